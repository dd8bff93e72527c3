import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import type { Class, Tollgate } from './index.js';

export interface LangChainMeterOptions {
  budget?: string;
  /** Held per tool call: micros, or per tool name ('*' for the rest). */
  toolPrice?: number | Record<string, number>;
  /** Held per model call (micros). */
  modelPrice?: number;
  /** Commit the tokens at the daemon's configured price for the model name. */
  priceByModel?: boolean;
  costOf?: (usage: { input?: number; output?: number; model?: string }) => number;
  cls?: Class;
}
/** Holds at each tool / chat model start, commits at its end, releases on error; refusals raise. */
export class TollgateCallbackHandler extends BaseCallbackHandler {
  name: string;
  constructor(gate: Tollgate, options?: LangChainMeterOptions);
}
