"""The demo seed `make run` uses: real rows, protected like registered ones, written once."""

from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from sqlalchemy import func, select

from census.__main__ import MIGRATIONS
from census.app import CensusCore, prepare_core
from census.config import CensusSettings
from census.people.models import Resident
from census.seed import seed_demo_community
from census.synthetic import demo_community
from shequ_infra import LocalInfrastructure
from shequ_kit.migrations import upgrade
from shequ_kit.tenancy import tenant_scope

XIUSHUI = "xiaoshan.shushan.xiushui"
TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def core(infra: LocalInfrastructure) -> Iterator[CensusCore]:
    infra.postgres.create_database("census_seed")
    settings = CensusSettings(
        database_url=infra.postgres.dsn("census_seed"), keycloak_issuer=infra.keycloak.issuer
    )
    upgrade(MIGRATIONS, settings.database_url)
    with prepare_core(settings, today=lambda: TODAY) as core:
        yield core


def test_a_demo_community_is_seeded_once_with_its_residents_protected(
    core: CensusCore, infra: LocalInfrastructure
) -> None:
    expected = len(demo_community(XIUSHUI, today=TODAY).residents)

    assert seed_demo_community(core, XIUSHUI) == expected
    assert seed_demo_community(core, XIUSHUI) == 0  # idempotent

    with tenant_scope(XIUSHUI), core.sessions() as session:
        count = session.scalar(select(func.count()).select_from(Resident))
        sample = session.scalars(select(Resident).limit(1)).one()
    assert count == expected
    assert sample.tenant_id == XIUSHUI
    number = core.protection.cipher.decrypt(
        sample.id_number_cipher, tenant_id=XIUSHUI, field="id_number"
    )
    assert sample.id_number_hash == core.protection.hasher.hash_id_number(number)
    with psycopg.connect(infra.postgres.dsn("census_seed")) as connection:
        # Without the tenant setting, row-level security shows nothing.
        assert connection.execute("SELECT count(*) FROM resident").fetchone() == (0,)
