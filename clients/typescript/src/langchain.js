// LangChain JS (@langchain/core): a callback handler that meters tools and chat models.
// A start holds (a refusal is raised into the call: raiseError), an end commits the
// actual cost, an error releases. Models are committed at the daemon's price for the
// model name when `priceByModel` (the config's `prices:`), else at costOf(usage), else
// at the amount held.
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { Hold, reportedCost } from './hold.js';

export class TollgateCallbackHandler extends BaseCallbackHandler {
  name = 'tollgate';
  raiseError = true;
  awaitHandlers = true;

  // options: {budget, toolPrice (micros or {name: micros}), modelPrice (micros),
  //           priceByModel, costOf(usage) -> micros, cls}
  constructor(gate, options = {}) {
    super();
    this.gate = gate;
    this.options = { budget: gate.budget, toolPrice: 0, modelPrice: 0, ...options };
    this.holds = new Map();
  }

  async open(runId, fields) {
    const hold = new Hold(this.gate, { budget: this.options.budget, cls: this.options.cls, ...fields });
    await hold.open();
    this.holds.set(runId, hold);
  }

  take(runId) {
    const hold = this.holds.get(runId);
    this.holds.delete(runId);
    return hold;
  }

  async handleToolStart(tool, input, runId, parentRunId, tags, metadata, runName) {
    const name = runName ?? tool?.name ?? tool?.id?.at(-1) ?? 'tool';
    const price = this.options.toolPrice;
    await this.open(runId, { tool: name, amount_micros: typeof price === 'object' ? price[name] ?? price['*'] ?? 0 : price });
  }

  async handleToolEnd(output, runId) {
    const hold = this.take(runId);
    if (!hold) return;
    const cost = reportedCost(output?.artifact ?? output);
    if (cost !== null) hold.actual_micros = cost;
    await hold.commit();
  }

  async handleToolError(err, runId) { await this.take(runId)?.release(); }

  async handleChatModelStart(llm, messages, runId, parentRunId, extra, tags, metadata) {
    const model = metadata?.ls_model_name ?? extra?.invocation_params?.model ?? llm?.kwargs?.model;
    await this.open(runId, { model, amount_micros: this.options.modelPrice, price_by_model: this.options.priceByModel });
  }

  async handleLLMStart(llm, prompts, runId, parentRunId, extra, tags, metadata) {
    await this.handleChatModelStart(llm, prompts, runId, parentRunId, extra, tags, metadata);
  }

  async handleLLMEnd(output, runId) {
    const hold = this.take(runId);
    if (!hold) return;
    const usage = output?.generations?.[0]?.[0]?.message?.usage_metadata;
    const legacy = output?.llmOutput?.tokenUsage;
    hold.tokens_in = usage?.input_tokens ?? legacy?.promptTokens;
    hold.tokens_out = usage?.output_tokens ?? legacy?.completionTokens;
    if (this.options.costOf) hold.actual_micros = this.options.costOf({ input: hold.tokens_in, output: hold.tokens_out, model: hold.model });
    await hold.commit();
  }

  async handleLLMError(err, runId) { await this.take(runId)?.release(); }
}
