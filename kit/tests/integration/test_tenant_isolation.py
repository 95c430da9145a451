"""Both locks of tenant isolation, against a real PostgreSQL, as a service's own role."""

from typing import TYPE_CHECKING

import psycopg
import pytest
from sqlalchemy import Engine, String, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from shequ_infra import LocalInfrastructure
from shequ_kit.db import (
    TenantOwned,
    system_scope,
    tenant_sessionmaker,
)
from shequ_kit.errors import DomainError
from shequ_kit.tenancy import MissingTenantError, tenant_scope

if TYPE_CHECKING:
    from kit.tests.integration.conftest import IsolatedDatabase

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
SHIBEI = "xiaoshan.beigan.shibei"
DATABASE = "kit_tenancy"


class Base(DeclarativeBase):
    pass


class Complex(TenantOwned, Base):
    __tablename__ = "complex"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


@pytest.fixture(scope="module")
def engine(isolated_database: "IsolatedDatabase") -> Engine:
    return isolated_database(DATABASE, Base.metadata)


@pytest.fixture(scope="module")
def sessions(engine: Engine) -> sessionmaker[Session]:
    factory = tenant_sessionmaker(engine)
    for tenant, names in [
        (HUSHAN, ["湖山小区", "湖山花园"]),
        (XIANGYUAN, ["北辰奥园"]),
        (SHIBEI, ["晴庐"]),
    ]:
        with tenant_scope(tenant), factory.begin() as session:
            session.add_all(Complex(name=name) for name in names)
    return factory


def names_seen_by(sessions: sessionmaker[Session], tenant: str) -> set[str]:
    with tenant_scope(tenant), sessions() as session:
        return set(session.scalars(select(Complex.name)))


def test_inserts_are_stamped_with_the_current_tenant(sessions: sessionmaker[Session]) -> None:
    with system_scope(), sessions() as session:
        stamped = {c.name: c.tenant_id for c in session.scalars(select(Complex))}
    assert stamped["北辰奥园"] == XIANGYUAN
    assert stamped["晴庐"] == SHIBEI


def test_a_community_reads_only_its_own_rows(sessions: sessionmaker[Session]) -> None:
    assert names_seen_by(sessions, HUSHAN) == {"湖山小区", "湖山花园"}
    assert names_seen_by(sessions, XIANGYUAN) == {"北辰奥园"}


def test_a_street_reads_its_communities_but_not_another_streets(
    sessions: sessionmaker[Session],
) -> None:
    assert names_seen_by(sessions, "xiaoshan.shushan") == {"湖山小区", "湖山花园", "北辰奥园"}


def test_an_orm_query_without_tenant_context_raises(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(MissingTenantError):
        session.scalars(select(Complex)).all()


def test_a_bulk_update_cannot_touch_another_tenants_rows(sessions: sessionmaker[Session]) -> None:
    with tenant_scope(HUSHAN), sessions.begin() as session:
        session.execute(update(Complex).values(name=Complex.name + "（已核实）"))
    assert names_seen_by(sessions, XIANGYUAN) == {"北辰奥园"}
    with tenant_scope(HUSHAN), sessions.begin() as session:
        session.execute(update(Complex).values(name=text("replace(name, '（已核实）', '')")))


def test_writing_a_row_for_another_tenant_is_refused(sessions: sessionmaker[Session]) -> None:
    with tenant_scope(HUSHAN), sessions() as session:
        session.add(Complex(name="越权", tenant_id=XIANGYUAN))
        with pytest.raises(DomainError, match="cannot write a row of"):
            session.flush()


def test_raw_sql_without_the_tenant_setting_returns_no_rows(
    infra: LocalInfrastructure, sessions: sessionmaker[Session]
) -> None:
    with psycopg.connect(infra.postgres.dsn(DATABASE)) as connection:
        assert connection.execute("SELECT count(*) FROM complex").fetchone() == (0,)


def test_raw_sql_with_a_tenant_setting_sees_only_that_tenant(
    infra: LocalInfrastructure, sessions: sessionmaker[Session]
) -> None:
    with psycopg.connect(infra.postgres.dsn(DATABASE)) as connection:
        connection.execute("SELECT set_config('shequ.tenant_id', %s, true)", (XIANGYUAN,))
        names = connection.execute("SELECT name FROM complex").fetchall()
    assert names == [("北辰奥园",)]


def test_row_level_security_refuses_raw_inserts_for_another_tenant(
    infra: LocalInfrastructure, sessions: sessionmaker[Session]
) -> None:
    with psycopg.connect(infra.postgres.dsn(DATABASE)) as connection:
        connection.execute("SELECT set_config('shequ.tenant_id', %s, true)", (HUSHAN,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(
                "INSERT INTO complex (tenant_id, name) VALUES (%s, %s)", (XIANGYUAN, "越权")
            )
