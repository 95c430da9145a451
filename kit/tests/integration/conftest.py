"""Fixtures for the kit's integration tests."""

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, MetaData, text

from shequ_infra import LocalInfrastructure
from shequ_kit.db import make_engine, tenant_isolation_sql

IsolatedDatabase = Callable[[str, MetaData], Engine]


@pytest.fixture(scope="session")
def isolated_database(infra: LocalInfrastructure) -> Iterator[IsolatedDatabase]:
    """Make a fresh database of its own role, with ``metadata``'s tables all under RLS,
    as a service's migrations would leave it."""
    engines: list[Engine] = []

    def create(name: str, metadata: MetaData) -> Engine:
        infra.postgres.create_database(name)
        engine = make_engine(infra.postgres.dsn(name))
        metadata.create_all(engine)
        with engine.begin() as connection:
            for table in metadata.sorted_tables:
                for statement in tenant_isolation_sql(table.name):
                    connection.execute(text(statement))
        engines.append(engine)
        return engine

    yield create
    for engine in engines:
        engine.dispose()
