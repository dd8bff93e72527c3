"""CrewAI: metered tools and a step callback that stops a crew when its budget is revoked.

    search = metered(gate, SearchTool(), price=20_000, budget="team/research-agent")
    agent = Agent(role=..., tools=[search], step_callback=stop_on_revocation(gate, "team/research-agent"))

Written against CrewAI's documented interface (BaseTool._run, Agent step_callback);
tested with a small stand-in, as the package is not installed on the test machine.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ..guard import BudgetGuard


def metered(gate, tool: Any, *, price: Any, budget: Optional[str] = None, cls: Optional[str] = None):
    """Wrap a CrewAI tool's _run: each run is held, committed at the reported cost,
    released on error. Returns the same tool object."""
    run = tool._run
    wrapped = gate.tool(price=price, cls=cls, budget=budget, name=getattr(tool, "name", None) or type(tool).__name__)(run)
    object.__setattr__(tool, "_run", wrapped)  # tools are pydantic models: bypass field checks
    return tool


def stop_on_revocation(gate, budget: Optional[str] = None, cls: str = "normal") -> Callable[[Any], None]:
    """A step_callback raising Revoked once the budget revoked the crew's class."""
    guard = BudgetGuard(gate, budget, cls)

    def step_callback(_step: Any) -> None:
        guard.check()

    step_callback.guard = guard  # type: ignore[attr-defined]
    return step_callback
