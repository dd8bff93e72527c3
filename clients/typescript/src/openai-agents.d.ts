import type { Agent, FunctionTool, RunResult } from '@openai/agents';
import type { Class, Tollgate } from './index.js';

export interface Meter { price: number | ((...args: any[]) => number); budget?: string; cls?: Class; name?: string; }
/** The SDK's tool() with `execute` held, committed at the reported cost, released on throw. */
export function meteredTool(gate: Tollgate, options: Parameters<typeof import('@openai/agents').tool>[0], meter: Meter): FunctionTool<any, any, any>;
/** The SDK's run() that stops (rejects with Revoked) when the budget revokes the run's class. */
export function runWithBudget(gate: Tollgate, agent: Agent<any, any>, input: string | any[],
  options?: { budget?: string; cls?: Class; signal?: AbortSignal } & Record<string, unknown>): Promise<RunResult<any, any>>;
