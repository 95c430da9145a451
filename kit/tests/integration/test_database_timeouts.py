"""Every engine's connections are bounded: a statement that runs too long and a lock that is
held too long are cancelled by PostgreSQL instead of holding the caller."""

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from shequ_infra import LocalInfrastructure
from shequ_kit.db import DatabaseTimeouts, make_engine
from shequ_kit.settings import ShequSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dsn(infra: LocalInfrastructure) -> str:
    infra.postgres.create_database("kit_timeouts")
    return infra.postgres.dsn("kit_timeouts")


def test_the_engine_carries_the_settings_timeouts(dsn: str) -> None:
    settings = ShequSettings(db_statement_timeout_s=42, db_lock_timeout_s=7)
    engine = make_engine(dsn, timeouts=settings.database_timeouts)
    try:
        with engine.connect() as connection:
            shown = connection.execute(text("SHOW statement_timeout")).scalar_one()
            lock = connection.execute(text("SHOW lock_timeout")).scalar_one()
    finally:
        engine.dispose()
    assert (shown, lock) == ("42s", "7s")


def test_a_statement_over_its_timeout_is_cancelled(dsn: str) -> None:
    engine = make_engine(dsn, timeouts=DatabaseTimeouts(statement_s=0.2))
    try:
        with (
            pytest.raises(OperationalError, match="statement timeout"),
            engine.connect() as connection,
        ):
            connection.execute(text("SELECT pg_sleep(30)"))
        with engine.connect() as connection:  # the pool goes on serving
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_lock_held_elsewhere_is_waited_for_no_longer_than_the_lock_timeout(dsn: str) -> None:
    holder = make_engine(dsn)
    waiter = make_engine(dsn, timeouts=DatabaseTimeouts(lock_s=0.2))
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(4242)"))
            locked.set()
            release.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        assert locked.wait(30)
        with (
            pytest.raises(OperationalError, match="lock timeout"),
            waiter.begin() as connection,
        ):
            connection.execute(text("SELECT pg_advisory_xact_lock(4242)"))
    finally:
        release.set()
        thread.join(30)
        holder.dispose()
        waiter.dispose()
