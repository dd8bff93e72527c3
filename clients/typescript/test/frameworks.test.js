// The framework wrappers with the frameworks' real packages: @openai/agents (metered
// tools, a run stopped by revocation), @langchain/core + @langchain/openai (callback
// handler on tools and a chat model served by tests/upstream/fake_llm.js), and `ai`
// (tool wrapper, language-model middleware on generate and stream, via fake_llm).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { Agent, Usage } from '@openai/agents';
import { tool as lcTool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, streamText, wrapLanguageModel, tool as aiTool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { Refused, Revoked, Metered } from '../src/index.js';
import { meteredTool as agentsTool, runWithBudget } from '../src/openai-agents.js';
import { TollgateCallbackHandler } from '../src/langchain.js';
import { meteredTool as aiMeteredTool, tollgateMiddleware } from '../src/ai-sdk.js';
import { daemon } from './helpers.js';

const require = createRequire(import.meta.url);
const { startFakeLlm } = require('../../../tests/upstream/fake_llm.js');
let fake;
const started = [];
before(async () => { fake = await startFakeLlm({ port: 0 }); });
after(async () => { await Promise.all(started.map((d) => d.stop())); await fake.close(); });
async function fresh() { const d = await daemon(); started.push(d); return [d, d.client()]; }
const byTool = async (gate) => Object.fromEntries((await gate.allCharges('t')).map((r) => [r.tool || r.model, r]));

// A model that calls the tools it is told to, then answers: the SDK's Model interface.
function scriptedModel(calls) {
  let turn = 0;
  const usage = () => new Usage({ requests: 1, inputTokens: 10, outputTokens: 5, totalTokens: 15 });
  return {
    async getResponse() {
      const now = turn++;
      if (now === 0) {
        return { usage: usage(), responseId: `r${now}`, output: calls.map(([name, args], i) => ({
          type: 'function_call', callId: `call${i}`, name, arguments: JSON.stringify(args), status: 'completed' })) };
      }
      return { usage: usage(), responseId: `r${now}`, output: [{ type: 'message', role: 'assistant', status: 'completed',
        content: [{ type: 'output_text', text: 'done' }] }] };
    },
    async *getStreamedResponse() { throw new Error('not used'); },
  };
}

test('@openai/agents: metered tools are charged, a revoked budget stops the run', async () => {
  const [d, gate] = await fresh();
  const search = agentsTool(gate, { name: 'web_search', description: 'search', parameters: z.object({ q: z.string() }),
    execute: async ({ q }) => new Metered(`results for ${q}`, 40000) }, { price: 100000, budget: 't/a' });
  const refund = agentsTool(gate, { name: 'refund_customer', description: 'refund', parameters: z.object({ amount: z.number() }),
    execute: async ({ amount }) => ({ refunded: amount, cost_micros: amount }) }, { price: ({ amount }) => amount, budget: 't/a' });
  const agent = new Agent({ name: 'support', instructions: 'help', tools: [search, refund],
    model: scriptedModel([['web_search', { q: 'order 7' }], ['refund_customer', { amount: 250000 }]]) });
  const result = await runWithBudget(gate, agent, 'refund order 7', { budget: 't/a' });
  assert.equal(result.finalOutput, 'done');
  const rows = await byTool(gate);
  assert.equal(rows.web_search.cost_micros, 40000);
  assert.equal(rows.web_search.class, 'low');
  assert.equal(rows.refund_customer.cost_micros, 250000);
  assert.equal(rows.refund_customer.class, 'critical');

  // Revoked mid-run: the search's own hold is revoked while it runs (it stops, released),
  // and the run is aborted before the model's next turn.
  const other = d.client();
  const slow = agentsTool(gate, { name: 'web_search', description: 'search', parameters: z.object({ q: z.string() }),
    execute: async (_input, _context, hold) => {
      await other.record({ budget: 't/a', cost_micros: 60000000, force: true });
      await new Promise((_, reject) => hold.signal.addEventListener('abort', () => reject(hold.signal.reason)));
    } }, { price: 100000, budget: 't/a' });
  const stopped = new Agent({ name: 'support', instructions: 'help', tools: [slow], model: scriptedModel([['web_search', { q: 'x' }]]) });
  await assert.rejects(runWithBudget(gate, stopped, 'go', { budget: 't/a' }), Revoked);
  const b = await gate.getBudget('t/a');
  assert.equal(b.held_micros, 0);
  assert.equal(b.spent_micros, 40000 + 250000 + 60000000);
});

test('LangChain: the callback handler meters tools and a chat model, and raises refusals', async () => {
  const [, gate] = await fresh();
  const handler = new TollgateCallbackHandler(gate, { budget: 't/a', toolPrice: { lookup: 30000, '*': 1000 }, modelPrice: 100000, priceByModel: true });
  const lookup = lcTool(async ({ id }) => `order ${id}: shipped`, { name: 'lookup', description: 'look up', schema: z.object({ id: z.string() }) });
  assert.equal(await lookup.invoke({ id: '7' }, { callbacks: [handler] }), 'order 7: shipped');
  const failing = lcTool(async () => { throw new Error('down'); }, { name: 'failing', description: 'x', schema: z.object({}) });
  await assert.rejects(failing.invoke({}, { callbacks: [handler] }), /down/);
  const model = new ChatOpenAI({ model: 'fake-model', apiKey: 'k', configuration: { baseURL: `${fake.url}/v1` } });
  const reply = await model.invoke('hello there', { callbacks: [handler] });
  assert.ok(reply.content.length > 0);
  const rows = await byTool(gate);
  assert.equal(rows.lookup.cost_micros, 30000);
  assert.equal(rows.failing, undefined);
  const m = rows['fake-model'];
  assert.ok(m, JSON.stringify(rows));
  const usage = reply.usage_metadata;
  assert.equal(m.tokens_in, usage.input_tokens);
  assert.equal(m.tokens_out, usage.output_tokens);
  assert.equal(m.cost_micros, Math.ceil(usage.input_tokens * 1 + usage.output_tokens * 2)); // 1.00 / 2.00 per M
  assert.equal((await gate.getBudget('t/a')).held_micros, 0);
  const dear = new TollgateCallbackHandler(gate, { budget: 't/b', toolPrice: 20000000 });
  let ran = false;
  const guarded = lcTool(async () => { ran = true; return 'x'; }, { name: 'guarded', description: 'x', schema: z.object({}) });
  await assert.rejects(guarded.invoke({}, { callbacks: [dear] }), Refused);
  assert.equal(ran, false);
});

test('Vercel AI SDK: tool wrapper and language-model middleware on generate and stream', async () => {
  const [, gate] = await fresh();
  const provider = createOpenAI({ baseURL: `${fake.url}/v1`, apiKey: 'k' });
  const model = wrapLanguageModel({ model: provider.chat('fake-model'),
    middleware: tollgateMiddleware(gate, { budget: 't/a', price: 100000, priceByModel: true }) });
  const generated = await generateText({ model, prompt: 'hello' });
  assert.ok(generated.text.length > 0);
  const streamed = streamText({ model, prompt: 'stream please' });
  let text = '';
  for await (const part of streamed.textStream) text += part;
  assert.ok(text.length > 0);
  const usage = await streamed.usage;
  const rows = (await gate.allCharges('t/a')).filter((r) => r.model === 'fake-model');
  assert.equal(rows.length, 2);
  assert.equal(rows[0].tokens_in, generated.usage.inputTokens);
  assert.equal(rows[1].tokens_out, usage.outputTokens);
  assert.equal(rows[1].cost_micros, usage.inputTokens + 2 * usage.outputTokens);

  const search = aiMeteredTool(gate, aiTool({ description: 'search', inputSchema: z.object({ q: z.string() }),
    execute: async ({ q }) => ({ hits: [q], cost_micros: 7000 }) }), { price: 50000, budget: 't/a', name: 'web_search' });
  assert.deepEqual(await search.execute({ q: 'cats' }, { toolCallId: '1', messages: [] }), { hits: ['cats'], cost_micros: 7000 });
  const dear = aiMeteredTool(gate, aiTool({ description: 'x', inputSchema: z.object({}), execute: async () => 'x' }), { price: 20000000, budget: 't/b', name: 'dear' });
  await assert.rejects(dear.execute({}, { toolCallId: '2', messages: [] }), Refused);
  const web = (await gate.allCharges('t/a')).find((r) => r.tool === 'web_search');
  assert.equal(web.cost_micros, 7000);
  assert.equal((await gate.getBudget('t/a')).held_micros, 0);
});
