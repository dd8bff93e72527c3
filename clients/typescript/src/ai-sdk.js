// Vercel AI SDK (`ai`): a tool wrapper and a language-model middleware
// (wrapLanguageModel({model, middleware: tollgateMiddleware(gate, {...})})).
import { Hold } from './hold.js';

// A tool definition (tool({...}) of the SDK) with its execute metered.
export function meteredTool(gate, definition, meter) {
  const execute = gate.tool(definition.execute, meter);
  return { ...definition, execute: (input, options) => execute(input, options) };
}

// options: {budget, price (micros held per call), priceByModel, costOf(usage), cls}
export function tollgateMiddleware(gate, { budget = gate.budget, price = 0, priceByModel = false, costOf, cls } = {}) {
  const open = async (model) => {
    const hold = new Hold(gate, { budget, amount_micros: price, model: model.modelId, price_by_model: priceByModel, cls });
    await hold.open();
    return hold;
  };
  const settle = (hold, usage) => {
    hold.tokens_in = usage?.inputTokens;
    hold.tokens_out = usage?.outputTokens;
    if (costOf) hold.actual_micros = costOf({ input: hold.tokens_in, output: hold.tokens_out, model: hold.model });
    return hold.commit();
  };
  return {
    middlewareVersion: 'v2',
    async wrapGenerate({ doGenerate, model }) {
      const hold = await open(model);
      let result;
      try {
        result = await doGenerate();
        hold.check();
      } catch (e) {
        await hold.release().catch(() => {});
        throw e;
      }
      await settle(hold, result.usage);
      return result;
    },
    async wrapStream({ doStream, model }) {
      const hold = await open(model);
      let result;
      try {
        result = await doStream();
      } catch (e) {
        await hold.release().catch(() => {});
        throw e;
      }
      let usage = null;
      const meter = new TransformStream({
        transform(part, controller) {
          if (hold.cancelled) { controller.error(hold.signal.reason); return; }
          if (part.type === 'finish') usage = part.usage;
          controller.enqueue(part);
        },
        async flush() {
          if (usage) await settle(hold, usage);
          else await hold.release();
        },
      });
      return { ...result, stream: result.stream.pipeThrough(meter) };
    },
  };
}
