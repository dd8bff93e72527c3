// OpenAI Agents SDK (@openai/agents): metered tools, and a run that stops when its
// budget is revoked. The SDK is the caller's; nothing here is loaded without it.
import { run, tool } from '@openai/agents';
import { Revoked } from './errors.js';
import { budgetGuard } from './guard.js';

// tool() of the SDK with its execute metered: `meter` = {price, budget, cls, name}.
export function meteredTool(gate, options, meter) {
  const execute = gate.tool(options.execute, { name: options.name, ...meter });
  return tool({ ...options, execute: (input, context) => execute(input, context) });
}

// run() of the SDK under a budget guard: the run is aborted at its next step when the
// budget revokes the run's class (or is frozen); it then rejects with Revoked.
export async function runWithBudget(gate, agent, input, { budget = gate.budget, cls = 'normal', ...options } = {}) {
  const guard = budgetGuard(gate, { budget, cls });
  await guard.ready;
  const signal = options.signal ? AbortSignal.any([options.signal, guard.signal]) : guard.signal;
  try {
    guard.check();
    return await run(agent, input, { ...options, signal });
  } catch (e) {
    if (guard.revoked) throw guard.signal.reason instanceof Revoked ? guard.signal.reason : new Revoked(0, budget);
    throw e;
  } finally {
    guard.close();
  }
}
