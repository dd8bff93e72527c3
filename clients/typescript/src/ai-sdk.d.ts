import type { Class, Tollgate } from './index.js';

export interface Meter { price: number | ((...args: any[]) => number); budget?: string; cls?: Class; name?: string; }
/** A tool definition of the AI SDK with `execute` held, committed, released on throw. */
export function meteredTool<T extends { execute?: (...args: any[]) => any }>(gate: Tollgate, definition: T, meter: Meter): T;
/** Language-model middleware: holds `price` per call, commits the usage (by model price or costOf). */
export function tollgateMiddleware(gate: Tollgate, options?: {
  budget?: string; price?: number; priceByModel?: boolean; cls?: Class;
  costOf?: (usage: { input?: number; output?: number; model?: string }) => number;
}): import('ai').LanguageModelMiddleware;
