"""OpenAI Agents SDK (`agents`): metered function tools and run hooks that stop a run
when its budget is revoked.

    search = metered_tool(gate, web_search, price=250_000, budget="team/support-agent")
    agent = Agent(name="support", tools=[search])
    await Runner.run(agent, "...", hooks=TollgateRunHooks(gate, "team/support-agent"))

Written against the SDK's documented interface (function_tool, RunHooks); tested with
a small stand-in of it, as the package is not installed on the test machine.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ..guard import BudgetGuard

try:
    from agents import RunHooks as _RunHooks
except ImportError:  # the SDK is the caller's; a plain base keeps this importable
    _RunHooks = object


def metered_tool(gate, fn: Callable, *, price: Any, budget: Optional[str] = None, cls: Optional[str] = None,
                 name: Optional[str] = None, **tool_args: Any):
    """function_tool(fn) with each call held, committed at the reported cost, released on error."""
    from agents import function_tool

    metered = gate.tool(price=price, cls=cls, budget=budget, name=name or fn.__name__)(fn)
    return function_tool(metered, name_override=name or fn.__name__, **tool_args)


class TollgateRunHooks(_RunHooks):
    """RunHooks: each step (agent, tool, model call) first checks the budget guard and
    raises Revoked once the budget revoked the run's class, which ends the run. With
    `price_by_model`, each model response's tokens are recorded at the daemon's price."""

    def __init__(self, gate, budget: Optional[str] = None, cls: str = "normal", price_by_model: bool = False):
        if _RunHooks is not object:
            super().__init__()
        self.gate = gate
        self.budget = budget or gate.budget
        self.guard = BudgetGuard(gate, self.budget, cls)
        self.price_by_model = price_by_model

    async def on_agent_start(self, context, agent) -> None:
        self.guard.check()

    async def on_tool_start(self, context, agent, tool) -> None:
        self.guard.check()

    async def on_llm_start(self, context, agent, system_prompt, input_items) -> None:
        self.guard.check()

    async def on_llm_end(self, context, agent, response) -> None:
        usage = getattr(response, "usage", None)
        model = getattr(agent, "model", None)
        if self.price_by_model and usage is not None and isinstance(model, str):
            import asyncio
            await asyncio.to_thread(self.gate.record, self.budget, model=model, tokens_in=usage.input_tokens,
                                    tokens_out=usage.output_tokens, force=True)

    async def on_tool_end(self, context, agent, tool, result) -> None:
        pass

    async def on_agent_end(self, context, agent, output) -> None:
        pass

    async def on_handoff(self, context, from_agent, to_agent) -> None:
        self.guard.check()

    def close(self) -> None:
        self.guard.close()
