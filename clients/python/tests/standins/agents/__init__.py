"""A small stand-in for the OpenAI Agents SDK (`agents`), which is not installed here:
function_tool and RunHooks with the documented signatures, and a Runner that drives
hooks and tools the way the SDK's run loop does (hook, then tool, per step)."""
import inspect
import json


class RunHooks:
    async def on_agent_start(self, context, agent): pass
    async def on_agent_end(self, context, agent, output): pass
    async def on_handoff(self, context, from_agent, to_agent): pass
    async def on_tool_start(self, context, agent, tool): pass
    async def on_tool_end(self, context, agent, tool, result): pass
    async def on_llm_start(self, context, agent, system_prompt, input_items): pass
    async def on_llm_end(self, context, agent, response): pass


class FunctionTool:
    def __init__(self, fn, name):
        self.fn, self.name = fn, name
        self.params = list(inspect.signature(fn).parameters)  # follows functools.wraps

    async def on_invoke_tool(self, context, arguments):
        result = self.fn(**json.loads(arguments))
        return await result if inspect.isawaitable(result) else result


def function_tool(fn, name_override=None, **_):
    return FunctionTool(fn, name_override or fn.__name__)


class Usage:
    def __init__(self, input_tokens, output_tokens):
        self.input_tokens, self.output_tokens = input_tokens, output_tokens


class ModelResponse:
    def __init__(self, usage):
        self.usage = usage


class Agent:
    def __init__(self, name, tools, model="fake-model"):
        self.name, self.tools, self.model = name, tools, model


class Runner:
    @staticmethod
    async def run(agent, calls, hooks):
        """`calls`: [(tool name, json arguments)], one model turn before each."""
        outputs = []
        await hooks.on_agent_start(None, agent)
        for name, arguments in calls:
            await hooks.on_llm_start(None, agent, "", [])
            await hooks.on_llm_end(None, agent, ModelResponse(Usage(100, 20)))
            tool = next(t for t in agent.tools if t.name == name)
            await hooks.on_tool_start(None, agent, tool)
            try:
                result = await tool.on_invoke_tool(None, arguments)
            except Exception as e:  # the SDK hands tool errors to the model as text
                result = f"error: {e}"
            await hooks.on_tool_end(None, agent, tool, result)
            outputs.append(result)
        await hooks.on_agent_end(None, agent, outputs)
        return outputs
