"""The notified cache against a real PostgreSQL: writes by anyone empty it; nothing is served
while it is not listening; an answer that raced a write is not kept."""

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from shequ_infra import LocalInfrastructure
from shequ_kit.cache import NotifiedCache, notify_on_change_sql

CHANNEL = "layout_test"


@pytest.fixture(scope="module")
def dsn(infra: LocalInfrastructure) -> str:
    infra.postgres.create_database("kit_cache")
    dsn = infra.postgres.superuser_dsn("kit_cache")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE layout (id int PRIMARY KEY, who text)")
        for statement in notify_on_change_sql(CHANNEL, ["layout"]):
            connection.execute(statement)
    return dsn


@pytest.fixture
def cache(dsn: str) -> Iterator[NotifiedCache]:
    cache = NotifiedCache(dsn, CHANNEL)
    assert cache.get("k") is None  # not listening yet: nothing is served
    cache.start()
    wait_for(lambda: cache.listening)
    yield cache
    cache.close()


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_committed_write_by_another_connection_empties_it(cache: NotifiedCache, dsn: str) -> None:
    cache.put("building-1", b"old answer", cache.generation())
    assert cache.get("building-1") == b"old answer"

    with psycopg.connect(dsn) as other:  # another replica's transaction
        other.execute("INSERT INTO layout VALUES (1, '王网格员')")
        time.sleep(0.2)
        assert cache.get("building-1") == b"old answer"  # not before it commits
    wait_for(lambda: cache.get("building-1") is None, seconds=2)


def test_an_answer_computed_across_a_write_is_not_kept(cache: NotifiedCache, dsn: str) -> None:
    generation = cache.generation()  # read before the query
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("UPDATE layout SET who = '李网格员'")
    wait_for(lambda: cache.generation() != generation, seconds=2)

    cache.put("building-1", b"computed from the old layout", generation)

    assert cache.get("building-1") is None


def test_its_own_writes_empty_it_at_once(cache: NotifiedCache) -> None:
    cache.put("building-2", b"answer", cache.generation())
    cache.invalidate()
    assert cache.get("building-2") is None


def test_a_closed_cache_serves_nothing(dsn: str) -> None:
    cache = NotifiedCache(dsn, CHANNEL)
    cache.start()
    wait_for(lambda: cache.listening)
    cache.put("building-3", b"answer", cache.generation())
    cache.close()
    wait_for(lambda: not cache.listening)
    assert cache.get("building-3") is None
