"""Every route of docs/api.md through its client method, against a real daemon."""
import pytest

from tollgate import ApiError, Refused, Tollgate


def test_every_route(gate, daemon):
    assert gate.healthz()["status"] == "ok"
    assert "tollgate_requests_total" in gate.metrics()

    # budgets: put, patch, get, list, freeze, unfreeze, history, delete
    gate.put_budget("t/new", limit_micros=5_000_000, window="day")
    assert gate.patch_budget("t/new", limit="6.00") is not None
    assert gate.get_budget("t/new")["limit_micros"] == 6_000_000
    paths = [b["path"] for b in gate.budgets(prefix="t/")["budgets"]]
    assert "t/new" in paths and "t/a" in paths
    gate.freeze("t/new")
    with pytest.raises(Refused) as refused:
        gate.reserve("t/new", 1)
    assert refused.value.reason == "frozen"
    gate.unfreeze("t/new")
    assert isinstance(gate.history("t/new"), dict)
    with pytest.raises(ApiError) as reserved:
        gate.put_budget("t/history")
    assert reserved.value.code == "reserved_name"
    gate.delete_budget("t/new")
    with pytest.raises(ApiError) as gone:
        gate.get_budget("t/new")
    assert gone.value.status == 404

    # holds: reserve, get, commit, release; charges: record, list; batch
    h = gate.reserve("t/a", 300_000, tool="web_search")
    assert h["granted"] and h["class"] == "low"
    assert gate.get_hold(h["hold_id"])["cancel_requested"] is False
    c = gate.commit(h["hold_id"], 250_000)
    assert c["charged_micros"] == 250_000
    h2 = gate.reserve("t/a", amount="0.10")
    gate.release(h2["hold_id"])
    gate.record("t/a", 5, tool="lookup")
    b = gate.batch([{"op": "hold", "body": {"budget": "t/a", "amount_micros": 7}},
                    {"op": "charge", "body": {"budget": "t/a", "cost_micros": 3}}])
    assert [r["status"] for r in b["results"]] == [200, 200]
    rows = gate.all_charges("t")
    assert sorted(r["cost_micros"] for r in rows) == [3, 5, 250_000]

    # events, the dead-letter list
    page = gate.events(since=0, limit=1000)
    assert "events" in page and "next" in page
    assert "failed" in gate.failed_notifications()

    # keys: create, list, rotate, delete; an agent key works, then stops working
    made = gate.create_key("bot", "agent", scope="t/a")
    bot = Tollgate(daemon.url, made["secret"], retry_for=1)
    assert bot.reserve("t/a", 1)["granted"]
    assert "bot" in [k["name"] for k in gate.keys()["keys"]]
    rotated = gate.rotate_key("bot")["secret"]
    with pytest.raises(ApiError) as old:
        bot.reserve("t/a", 1)
    assert old.value.status == 401
    assert Tollgate(daemon.url, rotated, retry_for=1).reserve("t/a", 1)["granted"]
    gate.delete_key("bot")
    assert "bot" not in [k["name"] for k in gate.keys()["keys"]]

    assert gate.reload()["applied"] is True


def test_refusal_carries_advice(gate):
    with pytest.raises(Refused) as e:
        gate.reserve("t/b", 11_000_000)
    r = e.value
    assert r.reason == "ceiling" and r.budget == "t/b"
    assert r.max_amount_micros == 10_000_000
    assert r.retry_after is None or r.retry_after > 0
    assert "ceiling" in str(r)


def test_bad_input_is_a_clear_error(gate):
    with pytest.raises(ApiError) as e:
        gate.reserve("t/a", -5)
    assert e.value.status == 400 and e.value.code == "invalid_field"
    with pytest.raises(ValueError):
        Tollgate("ftp://x", "k")


def test_idempotency_key_replays(gate):
    a = gate.reserve("t/a", 1000, idempotency_key="same")
    b = gate.reserve("t/a", 1000, idempotency_key="same")
    assert a["hold_id"] == b["hold_id"] and b["replayed"] is True
    with pytest.raises(ApiError) as e:
        gate.reserve("t/a", 2000, idempotency_key="same")
    assert e.value.code == "idempotency_conflict"
