"""The hold-commit-release contract: success, exception, refusal, revocation mid-call,
and a kill -9 of the daemon while clients retry (no double charge)."""
import asyncio
import threading
import time

import pytest
from conftest import wait_for

from tollgate import ApiError, AsyncTollgate, Metered, Refused, Revoked, current_hold


def spent(gate, path):
    b = gate.get_budget(path)
    return b["spent_micros"], b["held_micros"]


def test_success_commits_the_actual_cost(gate):
    with gate.hold("t/a", 500_000, tool="web_search") as h:
        assert current_hold() is h
        assert spent(gate, "t/a") == (0, 500_000)
        h.actual_micros = 123_456
    assert h.charge["charged_micros"] == 123_456
    assert spent(gate, "t/a") == (123_456, 0)
    rows = gate.all_charges("t/a")
    assert [(r["hold_id"], r["cost_micros"], r["tool"]) for r in rows] == [(h.id, 123_456, "web_search")]


def test_success_without_a_reported_cost_commits_the_hold(gate):
    with gate.hold("t/a", 70_000):
        pass
    assert spent(gate, "t/a") == (70_000, 0)


def test_exception_releases_and_charges_nothing(gate):
    with pytest.raises(KeyError):
        with gate.hold("t/a", 500_000, tool="web_search") as h:
            h.actual_micros = 400_000
            raise KeyError("the tool failed")
    assert spent(gate, "t/a") == (0, 0)
    with pytest.raises(ApiError) as e:
        gate.get_hold(h.id)
    assert e.value.status == 404
    assert gate.all_charges("t/a") == []


def test_refusal_runs_nothing(gate):
    ran = []
    with pytest.raises(Refused) as e:
        with gate.hold("t/b", 20_000_000):
            ran.append(1)
    assert ran == [] and e.value.reason == "ceiling" and e.value.max_amount_micros == 10_000_000
    assert spent(gate, "t/b") == (0, 0)


def test_tool_decorator(gate):
    calls = []

    @gate.tool(price=1_000_000, budget="t/a")
    def search(q):
        calls.append(q)
        assert current_hold().amount_micros == 1_000_000
        return Metered(f"results for {q}", 250_000)

    @gate.tool(price=lambda amount: amount, budget="t/a", name="refund_customer")
    def refund(amount):
        return {"refunded": amount, "cost_micros": amount}

    @gate.tool(price=2_000_000, budget="t/a")
    def broken():
        raise RuntimeError("upstream down")

    @gate.tool(price=50_000_000, budget="t/b")
    def too_dear():
        calls.append("too_dear")

    assert search("cats") == "results for cats"
    assert refund(300_000) == {"refunded": 300_000, "cost_micros": 300_000}
    with pytest.raises(RuntimeError):
        broken()
    with pytest.raises(Refused):
        too_dear()
    assert calls == ["cats"]
    rows = {r["tool"]: r for r in gate.all_charges("t")}
    assert rows["search"]["cost_micros"] == 250_000 and rows["search"]["class"] == "normal"
    assert rows["refund_customer"]["cost_micros"] == 300_000 and rows["refund_customer"]["class"] == "critical"
    assert set(rows) == {"search", "refund_customer"}
    assert spent(gate, "t/a") == (550_000, 0)


def revoke(gate):
    # Spend on t/a past its revoke_at (50.00): low and normal work there is revoked.
    gate.record("t/a", 60_000_000, force=True, tool="refund_big")


def test_revocation_mid_call_sets_the_flag_and_runs_callbacks(gate, daemon):
    other = daemon.client()
    called = threading.Event()
    with pytest.raises(Revoked):
        with gate.hold("t/a", 1_000_000, tool="web_search") as h:
            h.on_cancel(lambda _h: called.set())
            started = time.monotonic()
            revoke(other)
            # The work checks its hold between steps; it waits here for the revocation.
            assert h.cancelled.wait(10), "revocation never reached the hold"
            elapsed = time.monotonic() - started
            print(f"revocation reached the work after {elapsed * 1000:.0f} ms")
            assert called.is_set()
            h.check()
    assert spent(gate, "t/a") == (60_000_000, 0)  # the revoked hold was released
    other.close()


def test_revocation_cancels_an_asyncio_task(daemon):
    async def main():
        async with AsyncTollgate(daemon.url, "admin-secret", retry_for=20) as agate:
            holding = asyncio.Event()

            async def work():
                async with agate.hold("t/a", 1_000_000, tool="web_search"):
                    holding.set()
                    await asyncio.Event().wait()  # the work: runs until cancelled
            task = asyncio.create_task(work())
            await asyncio.wait_for(holding.wait(), 10)
            await agate.record("t/a", 60_000_000, force=True)
            with pytest.raises(Revoked):
                await asyncio.wait_for(task, 10)
            b = await agate.get_budget("t/a")
            assert (b["spent_micros"], b["held_micros"]) == (60_000_000, 0)

            @agate.tool(price=5, budget="t/a", cls="critical")
            async def refund_one():
                return Metered("ok", 4)
            assert await refund_one() == "ok"
            with pytest.raises(Refused) as e:
                async with agate.hold("t/a", 1, tool="web_search"):
                    pass
            assert e.value.reason == "revoked"
    asyncio.run(main())


def test_async_exception_releases(daemon):
    async def main():
        agate = AsyncTollgate(daemon.url, "admin-secret")
        with pytest.raises(ValueError):
            async with agate.hold("t/a", 9_000):
                raise ValueError("no")
        b = await agate.get_budget("t/a")
        assert (b["spent_micros"], b["held_micros"]) == (0, 0)
        async with agate.hold("t/a", 9_000) as h:
            h.actual_micros = 8_000
        b = await agate.get_budget("t/a")
        assert (b["spent_micros"], b["held_micros"]) == (8_000, 0)
    asyncio.run(main())


def test_revocation_before_the_stream_connects_is_seen(gate, daemon):
    # The hold is granted, then revoked before this client's watcher has a stream:
    # reading the hold back once the stream is up catches it.
    h = gate.reserve("t/a", 1_000, tool="web_search")
    revoke(gate)
    from tollgate import Hold
    hold = Hold(gate, "t/a", 1_000)
    hold.id = h["hold_id"]
    gate._watcher().add(hold)
    assert hold.cancelled.is_set()


def test_event_stream_resumes_without_gap(gate):
    first = gate.events(since=0)["next"]
    gate.record("t/a", 1, tool="x")
    gate.freeze("t/b")
    gate.unfreeze("t/b")
    seen = []
    with gate.stream(since=first) as s:
        for ev in s:
            seen.append((ev.kind, ev.data.get("detail")))
            if ev.data.get("detail") == "unfrozen":
                break
    assert seen[-2:] == [("budget_changed", "frozen"), ("budget_changed", "unfrozen")]
    assert all(k != "budget_changed" or d in ("frozen", "unfrozen") for k, d in seen)


def test_kill9_while_clients_retry_charges_each_action_once(tmp_path):
    from conftest import Daemon, BUDGETS
    d = Daemon(tmp_path, BUDGETS).start()
    d.write_config()  # the restart listens on the port the clients already use
    threads, per_thread, done, errors = 4, 30, [], []
    lock = threading.Lock()

    def agent(n):
        g = d.client(retry_for=30)
        try:
            for i in range(per_thread):
                with g.hold("t", 2_000, tool="web_search") as h:
                    h.actual_micros = 1_000 + n * 100 + i
                with lock:
                    done.append((n, i))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            g.close()

    workers = [threading.Thread(target=agent, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    try:
        for kill_at in (20, 60):
            wait_for(lambda: len(done) >= kill_at or errors, 60, f"{kill_at} actions")
            d.kill9()
            d.start()
        for w in workers:
            w.join(120)
        assert not errors, errors
        assert len(done) == threads * per_thread
        g = d.client()
        rows = g.all_charges("t")
        expected = sorted(1_000 + n * 100 + i for n in range(threads) for i in range(per_thread))
        assert sorted(r["cost_micros"] for r in rows) == expected  # each action once, none twice
        assert len({r["hold_id"] for r in rows}) == len(rows)
        assert spent(g, "t") == (sum(expected), 0)
    finally:
        d.stop()


def test_revocation_without_an_event_stream_is_polled(tmp_path):
    # The memory store has no durable events (the stream answers 501): the watcher
    # falls back to reading the open holds back.
    from conftest import BUDGETS, Daemon
    d = Daemon(tmp_path, BUDGETS, store="memory").start()
    try:
        gate, other = d.client(), d.client()
        with pytest.raises(Revoked):
            with gate.hold("t/a", 1_000, tool="web_search") as h:
                revoke(other)
                assert h.cancelled.wait(10), "the poll never saw the revocation"
                h.check()
        assert gate._watcher().polling.is_set()
        assert spent(gate, "t/a") == (60_000_000, 0)
        gate.close()
    finally:
        d.stop()


def test_a_daemon_that_stays_down_is_unavailable_after_the_retry_window(tmp_path):
    from conftest import BUDGETS, Daemon
    from tollgate import Unavailable
    d = Daemon(tmp_path, BUDGETS).start()
    attempts = []
    gate = d.client(retry_for=0.5, on_retry=lambda n, e: attempts.append(n))
    d.kill9()
    with pytest.raises(Unavailable):
        gate.reserve("t/a", 1)
    assert len(attempts) >= 2  # retried (same body, same key) before giving up


def test_a_retried_commit_after_a_lost_answer_replays(gate):
    # The same commit sent twice (as a retry after a lost answer would) charges once.
    h = gate.reserve("t/a", 10_000, idempotency_key="job-1")
    first = gate.commit(h["hold_id"], 9_000, idempotency_key="job-1:c")
    again = gate.commit(h["hold_id"], 9_000, idempotency_key="job-1:c")
    assert again["replayed"] is True and again["charge_id"] == first["charge_id"]
    assert spent(gate, "t/a") == (9_000, 0)
    assert len(gate.all_charges("t/a")) == 1
