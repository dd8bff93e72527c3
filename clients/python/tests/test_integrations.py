"""The Python framework wrappers, with small stand-ins for the frameworks (not installed
here): OpenAI Agents SDK (tests/standins/agents), LangChain's callback calls and
CrewAI's tool and step callback, each with the framework's documented signatures."""
import asyncio
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "standins"))

from tollgate import Metered, Refused, Revoked  # noqa: E402
from tollgate.integrations import crewai, langchain, openai_agents  # noqa: E402

PRICES = '  gpt-x: {input: "1.00", output: "2.00"}\n'


def rows(gate, path="t"):
    return {r["tool"] or r["model"]: r for r in gate.all_charges(path)}


def test_openai_agents_metered_tools_and_run_stopped_on_revocation(gate, daemon):
    import agents

    def web_search(q: str):
        return Metered(f"results for {q}", 40_000)

    def refund_customer(amount: int):
        return {"refunded": amount, "cost_micros": amount}

    search = openai_agents.metered_tool(gate, web_search, price=100_000, budget="t/a")
    refund = openai_agents.metered_tool(gate, refund_customer, price=lambda amount: amount, budget="t/a")
    assert search.params == ["q"] and refund.name == "refund_customer"
    agent = agents.Agent("support", [search, refund])
    hooks = openai_agents.TollgateRunHooks(gate, "t/a")
    out = asyncio.run(agents.Runner.run(agent, [("web_search", '{"q": "order 7"}'),
                                                ("refund_customer", '{"amount": 250000}')], hooks))
    assert out == ["results for order 7", {"refunded": 250_000, "cost_micros": 250_000}]
    r = rows(gate)
    assert r["web_search"]["cost_micros"] == 40_000 and r["web_search"]["class"] == "low"
    assert r["refund_customer"]["cost_micros"] == 250_000 and r["refund_customer"]["class"] == "critical"

    # Revoked mid-run: the next step's hook raises Revoked and the run ends there.
    other = daemon.client()

    def spend_it_all(q: str):
        other.record("t/a", 60_000_000, force=True)
        return "spent"
    spender = openai_agents.metered_tool(gate, spend_it_all, price=1, budget="t/a", cls="critical")
    agent = agents.Agent("support", [spender, search])
    from conftest import wait_for
    searches = [c["tool"] for c in gate.all_charges("t")].count("web_search")
    with pytest.raises(Revoked):
        async def run():
            await agents.Runner.run(agent, [("spend_it_all", '{"q": "x"}')], hooks)
            wait_for(hooks.guard.revoked.is_set, 10, "the revocation")
            await agents.Runner.run(agent, [("web_search", '{"q": "y"}')], hooks)
        asyncio.run(run())
    # The search for "y" came after the revocation: never charged.
    assert [c["tool"] for c in gate.all_charges("t")].count("web_search") == searches
    assert gate.get_budget("t/a")["held_micros"] == 0
    hooks.close()
    other.close()


def test_langchain_handler_meters_tools_and_models(tmp_path):
    from conftest import BUDGETS, Daemon
    d = Daemon(tmp_path, BUDGETS)
    d.budgets = BUDGETS + "prices:\n" + PRICES  # budgets: is last in the config; prices after it
    d.start()
    try:
        gate = d.client()
        h = langchain.TollgateCallbackHandler(gate, "t/a", tool_price={"lookup": 30_000, "*": 1_000},
                                              model_price=100_000, price_by_model=True)
        run = uuid.uuid4()
        h.on_tool_start({"name": "lookup"}, "order 7", run_id=run)
        assert gate.get_budget("t/a")["held_micros"] == 30_000
        h.on_tool_end("shipped", run_id=run)
        run = uuid.uuid4()
        h.on_tool_start({"name": "failing"}, "", run_id=run)
        h.on_tool_error(RuntimeError("down"), run_id=run)

        class Msg:
            usage_metadata = {"input_tokens": 1000, "output_tokens": 333}

        class Gen:
            message = Msg()

        class Result:
            generations = [[Gen()]]
            llm_output = None
        run = uuid.uuid4()
        h.on_chat_model_start({}, [[]], run_id=run, invocation_params={"model": "gpt-x"})
        h.on_llm_end(Result(), run_id=run)
        r = rows(gate)
        assert r["lookup"]["cost_micros"] == 30_000 and "failing" not in r
        assert (r["gpt-x"]["tokens_in"], r["gpt-x"]["tokens_out"], r["gpt-x"]["cost_micros"]) == (1000, 333, 1666)
        dear = langchain.TollgateCallbackHandler(gate, "t/b", tool_price=20_000_000)
        with pytest.raises(Refused):
            dear.on_tool_start({"name": "x"}, "", run_id=uuid.uuid4())
        assert dear.raise_error is True
        assert gate.get_budget("t")["held_micros"] == 0
    finally:
        d.stop()


def test_crewai_tool_and_step_callback(gate, daemon):
    class SearchTool:  # CrewAI's BaseTool shape: name, description, _run, run
        name = "web_search"
        description = "search"

        def _run(self, query: str):
            return {"hits": [query], "cost_micros": 7_000}

        def run(self, *args, **kwargs):
            return self._run(*args, **kwargs)

    tool = crewai.metered(gate, SearchTool(), price=50_000, budget="t/a")
    assert tool.run(query="cats") == {"hits": ["cats"], "cost_micros": 7_000}
    assert rows(gate)["web_search"]["cost_micros"] == 7_000
    step = crewai.stop_on_revocation(gate, "t/a")
    step({"thought": "searching"})
    gate.record("t/a", 60_000_000, force=True)
    from conftest import wait_for
    wait_for(step.guard.revoked.is_set, 10, "the revocation")
    with pytest.raises(Revoked):
        step({"thought": "next"})
    step.guard.close()
