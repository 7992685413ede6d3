"""The gate's promotion is a compare-and-swap on the champion (issue 29, item 5).

:func:`jobclass.store.registry.promote_replacing` promotes only while the champion is the one the
caller compared against; otherwise it changes nothing and says which model is champion now. Every
test runs on SQLite and, when reachable, on a throw-away PostgreSQL database. The bundle check is
switched off here (it has its own tests): these models have no bundle on disk.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa


@pytest.fixture
def registry(engine, monkeypatch, tmp_path):
    """The registry module, with v1 the champion and v2, v3 registered challengers."""
    from jobclass.store import registry

    monkeypatch.setattr(registry, "verify_model_bundle", lambda path: None)
    for version in ("v1", "v2", "v3"):
        registry.register_model(engine, version, tmp_path / version, {}, None)
    registry.promote(engine, "v1", "first model")
    return registry


def rows(engine) -> dict[str, tuple[str, str | None]]:
    """Every model's (status, reason)."""
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT version, status, reason FROM model_versions ORDER BY version"))
        return {version: (status, reason) for version, status, reason in found}


def test_it_promotes_while_the_champion_is_the_expected_one(engine, registry):
    promoted = registry.promote_replacing(engine, "v2", "beats v1", expected="v1")
    assert (promoted.version, promoted.status, promoted.reason) == ("v2", "champion", "beats v1")
    assert promoted.promoted_at
    assert rows(engine) == {
        "v1": ("retired", "replaced by v2: beats v1"),
        "v2": ("champion", "beats v1"),
        "v3": ("challenger", None),
    }


def test_it_refuses_when_another_model_was_promoted_since_and_changes_nothing(engine, registry):
    registry.promote(engine, "v3", "promoted by hand")  # after the caller read v1 as the champion
    before = rows(engine)
    with pytest.raises(registry.ChampionChangedError) as refused:
        registry.promote_replacing(engine, "v2", "beats v1", expected="v1")
    assert (refused.value.version, refused.value.expected, refused.value.found) == ("v2", "v1", "v3")
    assert str(refused.value) == "v2 was not promoted: the champion is v3, not v1 as expected."
    assert (
        rows(engine)
        == before
        == {
            "v1": ("retired", "replaced by v3: promoted by hand"),
            "v2": ("challenger", None),
            "v3": ("champion", "promoted by hand"),
        }
    )


def test_expecting_no_champion_promotes_only_when_there_is_none(engine, monkeypatch, tmp_path):
    from jobclass.store import registry

    monkeypatch.setattr(registry, "verify_model_bundle", lambda path: None)
    for version in ("a", "b"):
        registry.register_model(engine, version, tmp_path / version, {}, None)
    assert registry.promote_replacing(engine, "a", "no champion yet", expected=None).status == "champion"
    with pytest.raises(registry.ChampionChangedError) as refused:
        registry.promote_replacing(engine, "b", "no champion yet", expected=None)
    assert (refused.value.expected, refused.value.found) == (None, "a")
    assert rows(engine) == {"a": ("champion", "no champion yet"), "b": ("challenger", None)}


def test_promoting_the_champion_again_is_refused_and_names_it(engine, registry):
    """A retry after the swap went through: the caller sees that its model is the champion now."""
    registry.promote_replacing(engine, "v2", "beats v1", expected="v1")
    with pytest.raises(registry.ChampionChangedError) as refused:
        registry.promote_replacing(engine, "v2", "beats v1", expected="v1")
    assert refused.value.found == "v2"
    assert rows(engine)["v2"] == ("champion", "beats v1") and rows(engine)["v1"][0] == "retired"


def wait_until_blocked(engine, thread: threading.Thread) -> None:
    """PostgreSQL: until a session waits for a lock (the swap, on the manual promotion's row lock).
    SQLite: a short pause, only to let the swap reach its write lock first in most runs."""
    if engine.dialect.name != "postgresql":
        thread.join(0.2)
        return
    for _ in range(600):
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT COUNT(*) FROM pg_locks WHERE NOT granted")).scalar_one():
                return
        thread.join(0.1)
    raise AssertionError("the swap never waited for the manual promotion's lock")


def swap_while_in_flight(engine, registry, manual_writes: list[str], expected: str | None) -> BaseException | str:
    """Run ``manual_writes`` in a transaction left open, start the swap of v2 (expecting ``expected``)
    in a thread, commit the manual transaction once the swap waits (see :func:`wait_until_blocked`),
    and return what the swap returned (the champion's version) or raised."""
    manual = engine.connect()
    transaction = manual.begin()
    for statement in manual_writes:
        manual.execute(sa.text(statement))
    outcome: list[BaseException | str] = []

    def swap() -> None:
        try:
            outcome.append(registry.promote_replacing(engine, "v2", "beats v1", expected=expected).version)
        except BaseException as exc:  # noqa: BLE001 - judged by the test, in its own thread
            outcome.append(exc)

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        wait_until_blocked(engine, swapper)
    finally:
        transaction.commit()
        manual.close()
        swapper.join(60)
    assert not swapper.is_alive()
    [result] = outcome
    return result


def test_a_promotion_in_flight_that_commits_first_wins_and_the_swap_is_refused(engine, registry):
    """A manual promotion has written (v1 retired, v3 champion) and not committed when the
    compare-and-swap runs: the swap waits for it (PostgreSQL: the row lock on v1; SQLite: the write
    lock), then finds v3 and is refused. On PostgreSQL the test sees the swap waiting on the lock
    before it commits the manual promotion; on SQLite the wait cannot be seen from outside, but the
    outcome is the same whether the swap reached the database before or after that commit."""
    by_hand = [
        "UPDATE model_versions SET status = 'retired', reason = 'by hand' WHERE version = 'v1'",
        "UPDATE model_versions SET status = 'champion', reason = 'by hand' WHERE version = 'v3'",
    ]
    result = swap_while_in_flight(engine, registry, by_hand, expected="v1")
    assert isinstance(result, registry.ChampionChangedError), result
    assert (result.expected, result.found) == ("v1", "v3")
    assert rows(engine) == {"v1": ("retired", "by hand"), "v2": ("challenger", None), "v3": ("champion", "by hand")}


def test_a_first_champion_in_flight_that_commits_first_wins_and_the_swap_is_refused(engine, registry):
    """No champion when the swap (expecting none) runs, one being promoted by hand: PostgreSQL lets
    the swap write and then stops it at the one-champion index until the manual promotion commits
    (a unique violation, turned into the refusal); SQLite makes it wait for the write lock."""
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE model_versions SET status = 'retired' WHERE version = 'v1'"))
    by_hand = ["UPDATE model_versions SET status = 'champion', reason = 'by hand' WHERE version = 'v3'"]
    result = swap_while_in_flight(engine, registry, by_hand, expected=None)
    assert isinstance(result, registry.ChampionChangedError), result
    assert (result.expected, result.found) == (None, "v3")
    assert rows(engine) == {
        "v1": ("retired", "first model"),
        "v2": ("challenger", None),
        "v3": ("champion", "by hand"),
    }
