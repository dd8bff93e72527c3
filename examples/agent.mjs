#!/usr/bin/env node
// A support agent with a metered search tool and a critical refund tool (TypeScript
// client, plain ESM). Against `make run`'s daemon, in the folder where you ran it:
//   export TOLLGATE_URL=http://127.0.0.1:8420 TOLLGATE_KEY=$(cat .tollgate-admin-key)
//   node examples/agent.mjs
// The policy of examples/tollgate.yaml makes web_search low and refund_* critical: when
// team/support-agent reaches its revoke_at, searches are refused (or stopped mid-call)
// while refunds still go through up to the limit.
import { Metered, Refused, Revoked, Tollgate } from '../clients/typescript/src/index.js';

const gate = new Tollgate({ budget: process.env.TOLLGATE_BUDGET ?? 'team/support-agent' });

// Hold 0.02 per search; the search reports what it cost. The hold is the last argument.
const webSearch = gate.tool(async (query, hold) => {
  hold.check(); // stop here if the budget was revoked meanwhile (hold.signal aborts too)
  return new Metered([`kb article about ${query}`], 12000);
}, { price: 20000, name: 'web_search' });

const refundOrder = gate.tool(async (order, amountMicros) => ({ order, refunded_micros: amountMicros, cost_micros: amountMicros }),
  { price: (order, amountMicros) => amountMicros, name: 'refund_order' }); // refund_* is critical

for (const [order, problem, amount] of [['A-1001', 'late delivery', 0], ['A-1002', 'broken item', 35000000], ['A-1003', 'wrong size', 0]]) {
  try {
    const hits = await webSearch(problem);
    console.log(`${order}: searched '${problem}' -> ${hits[0]}`);
    if (amount) console.log(`${order}: refunded ${((await refundOrder(order, amount)).refunded_micros / 1e6).toFixed(2)}`);
  } catch (e) {
    if (e instanceof Refused) console.log(`${order}: refused (${e.reason}); fits ${e.maxAmountMicros} micros; retry after ${e.retryAfterMs} ms`);
    else if (e instanceof Revoked) console.log(`${order}: stopped, the budget was revoked mid-call`);
    else throw e;
  }
}
const state = await gate.getBudget(gate.budget);
console.log(`${gate.budget}: spent ${(state.spent_micros / 1e6).toFixed(2)} of ${(state.limit_micros / 1e6).toFixed(2)}`);
gate.close();
