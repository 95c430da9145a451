"""Which database errors mean "the database is away, retry later" (UNAVAILABLE, HTTP 503)
rather than a failed statement (an internal error that retrying will not fix)."""

import psycopg
import pytest
from psycopg import errors as pg
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from shequ_kit.db import unreachable_database
from shequ_kit.errors import ErrorKind

STATEMENT = "SELECT 1"


@pytest.mark.parametrize(
    "orig",
    [
        # What psycopg raises when nothing listens on the port, or the server went mid-statement.
        psycopg.OperationalError("connection failed: Connection refused"),
        psycopg.OperationalError("consuming input failed: server closed the connection"),
        pg.AdminShutdown("terminating connection due to administrator command"),
        pg.CannotConnectNow("the database system is starting up"),
        pg.TooManyConnections("sorry, too many clients already"),
    ],
    ids=["refused", "closed", "admin-shutdown", "starting-up", "too-many-connections"],
)
def test_a_database_that_is_away_is_unavailable(orig: Exception) -> None:
    error = unreachable_database(OperationalError(STATEMENT, None, orig))

    assert error is not None
    assert error.kind is ErrorKind.UNAVAILABLE
    assert error.code == "database.unavailable"
    assert error.message_zh.startswith("数据库暂不可用")


def test_a_connection_the_pool_found_broken_is_unavailable_whatever_the_error_class() -> None:
    broken = DBAPIError(STATEMENT, None, psycopg.InterfaceError("the connection is lost"))
    broken.connection_invalidated = True

    assert unreachable_database(broken) is not None


@pytest.mark.parametrize(
    "error",
    [
        OperationalError(STATEMENT, None, pg.QueryCanceled("canceling statement due to timeout")),
        OperationalError(STATEMENT, None, pg.SerializationFailure("could not serialize")),
        IntegrityError(STATEMENT, None, pg.UniqueViolation("duplicate key")),
        ProgrammingError(STATEMENT, None, pg.UndefinedTable("relation does not exist")),
        RuntimeError("not a database error at all"),
    ],
    ids=["statement-timeout", "serialization", "unique", "undefined-table", "other"],
)
def test_a_failed_statement_is_not_taken_for_an_unreachable_database(error: Exception) -> None:
    assert unreachable_database(error) is None
