"""The audit log against a real PostgreSQL, created by the kit's migration helper and used as a
service's own role: append-only for real, each tenant's entries invisible to others, the
newest-first cursor, and the operations that record themselves."""

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from shequ_infra import LocalInfrastructure
from shequ_kit.audit import PLATFORM, AuditEntry, AuditQuery, Scope, list_entries, record
from shequ_kit.context import call_context
from shequ_kit.db import make_engine, system_scope, tenant_sessionmaker
from shequ_kit.migrations import upgrade
from shequ_kit.ops import Operations, Rebuilt, ReplayRange, rebuild_projection, replay_outbox
from shequ_kit.paging import Page
from shequ_kit.tenancy import TenantId, tenant_scope
from shequ_kit.tokens import Principal, grants_from_groups

MIGRATIONS = Path(__file__).parent / "audit_migrations"
DATABASE = "kit_audit"
SHUSHAN = TenantId("xiaoshan.shushan")
HUSHAN = TenantId("xiaoshan.shushan.hushan")
XIANGYUAN = TenantId("xiaoshan.shushan.xiangyuan")
SHIBEI = TenantId("xiaoshan.beigan.shibei")


def principal(username: str, *groups: str) -> Principal:
    return Principal(
        subject=f"{username}-subject",
        username=username,
        grants=grants_from_groups(groups),
        token="t",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


ADMIN = principal("shushan-admin", "/xiaoshan/shushan/street-admin")
PLATFORM_ADMIN = principal("platform", "/platform-admin")


@pytest.fixture(scope="module")
def engine(infra: LocalInfrastructure) -> Iterator[Engine]:
    infra.postgres.create_database(DATABASE)
    dsn = infra.postgres.dsn(DATABASE)
    upgrade(MIGRATIONS, dsn)
    upgrade(MIGRATIONS, dsn)  # a second run is a no-op
    engine = make_engine(dsn)
    yield engine
    engine.dispose()


def record_in(
    engine: Engine,
    tenant: TenantId | Scope,
    action: str = "member.created",
    actor: Principal = ADMIN,
) -> AuditEntry:
    """One entry written as a service writes it: in its tenant's transaction."""
    scope = tenant_scope(tenant) if isinstance(tenant, TenantId) else system_scope()
    with (
        call_context(request_id=uuid.uuid4().hex, principal=actor),
        scope,
        tenant_sessionmaker(engine).begin() as session,
    ):
        return record(
            session,
            action,
            summary="新建成员账号",
            summary_en="created an account",
            target_kind="member",
            target_id=uuid.uuid4(),
            detail={"roles": 1},
            tenant=None if isinstance(tenant, TenantId) else PLATFORM,
        )


def ids(entries: list[AuditEntry]) -> list[uuid.UUID]:
    return [entry.id for entry in entries]


def every_page(engine: Engine, query: AuditQuery) -> list[list[AuditEntry]]:
    pages: list[list[AuditEntry]] = []
    after: list[str] | None = None
    while True:
        found = list_entries(engine, replace(query, page=Page(2, after)))
        pages.append(list(found.entries))
        if not found.next_page_token:
            return pages
        after = found.entries[-1].cursor


@pytest.fixture(scope="module")
def entries(engine: Engine) -> dict[str, AuditEntry]:
    return {
        "hushan": record_in(engine, HUSHAN, "pii.revealed"),
        "xiangyuan": record_in(engine, XIANGYUAN, "member.created"),
        "shibei": record_in(engine, SHIBEI, "pii.exported"),
        "platform": record_in(engine, PLATFORM, "ops.outbox_replayed", PLATFORM_ADMIN),
        "hushan_import": record_in(engine, HUSHAN, "import.committed"),
    }


def test_a_street_reads_its_communities_entries_and_nothing_else(
    engine: Engine, entries: dict[str, AuditEntry]
) -> None:
    shushan = list_entries(engine, AuditQuery(page=Page(50, None), tenant=SHUSHAN)).entries
    assert set(ids(list(shushan))) >= {
        entries[k].id for k in ("hushan", "xiangyuan", "hushan_import")
    }
    assert not {entries["shibei"].id, entries["platform"].id} & set(ids(list(shushan)))
    hushan = list_entries(engine, AuditQuery(page=Page(50, None), tenant=HUSHAN)).entries
    assert {e.tenant for e in hushan} == {HUSHAN}
    everything = list_entries(engine, AuditQuery(page=Page(50, None))).entries
    assert {entries[k].id for k in entries} <= set(ids(list(everything)))


def test_row_level_security_hides_other_tenants_entries_from_raw_sql(
    infra: LocalInfrastructure, entries: dict[str, AuditEntry]
) -> None:
    with psycopg.connect(infra.postgres.dsn(DATABASE)) as connection:
        assert connection.execute("SELECT count(*) FROM audit_entry").fetchone() == (0,)
        connection.execute("SELECT set_config('shequ.tenant_id', %s, true)", (HUSHAN.value,))
        seen = connection.execute("SELECT DISTINCT tenant_id FROM audit_entry").fetchall()
    assert seen == [(HUSHAN.value,)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET summary = 'nothing happened'",
        "DELETE FROM audit_entry",
        "TRUNCATE audit_entry",
    ],
)
def test_entries_cannot_be_changed_or_removed_even_by_the_owner(
    engine: Engine, entries: dict[str, AuditEntry], statement: str
) -> None:
    with (
        system_scope(),
        pytest.raises(DBAPIError, match="append-only"),
        tenant_sessionmaker(engine).begin() as session,
    ):
        session.execute(text(statement))
    with system_scope(), tenant_sessionmaker(engine)() as session:
        summaries = session.execute(
            text("SELECT summary FROM audit_entry WHERE id = :id"), {"id": entries["hushan"].id}
        ).scalar_one()
    assert summaries == "新建成员账号"


def fail_after_recording(engine: Engine, target: uuid.UUID) -> None:
    """An action that records its entry, then fails before its transaction commits."""
    with (
        call_context(request_id="r", principal=ADMIN),
        tenant_scope(HUSHAN),
        tenant_sessionmaker(engine).begin() as session,
    ):
        record(session, "member.created", summary="s", summary_en="s", target_id=target)
        raise RuntimeError("the action failed")


def test_an_action_that_rolls_back_leaves_no_entry(engine: Engine) -> None:
    target = uuid.uuid4()
    with pytest.raises(RuntimeError, match="the action failed"):
        fail_after_recording(engine, target)
    with system_scope(), tenant_sessionmaker(engine)() as session:
        left = session.execute(
            text("SELECT count(*) FROM audit_entry WHERE target_id = :t"), {"t": str(target)}
        ).scalar_one()
    assert left == 0


def test_pages_walk_newest_first_without_gaps_or_repeats(
    engine: Engine, entries: dict[str, AuditEntry]
) -> None:
    everything = list(list_entries(engine, AuditQuery(page=Page(500, None))).entries)
    newest_first = sorted(everything, key=lambda e: (e.occurred_at, str(e.id)), reverse=True)
    assert ids(everything) == ids(newest_first)
    pages = every_page(engine, AuditQuery(page=Page(2, None)))
    assert all(len(page) == 2 for page in pages[:-1])
    assert [e.id for page in pages for e in page] == ids(everything)


def test_filters_narrow_by_action_actor_and_time(
    engine: Engine, entries: dict[str, AuditEntry]
) -> None:
    page = Page(50, None)
    pii = list_entries(engine, AuditQuery(page=page, tenant=SHUSHAN, action_prefix="pii.")).entries
    assert entries["hushan"].id in ids(list(pii))
    assert {e.action.split(".")[0] for e in pii} == {"pii"}
    by_platform = list_entries(engine, AuditQuery(page=page, actor="platform")).entries
    assert entries["platform"].id in ids(list(by_platform))
    assert {e.actor_name for e in by_platform} == {"platform"}
    first = entries["hushan"].occurred_at
    window = list_entries(
        engine,
        AuditQuery(
            page=page,
            since=first,
            until=entries["hushan_import"].occurred_at,
        ),
    ).entries
    assert entries["hushan"].id in ids(list(window))
    assert entries["hushan_import"].id not in ids(list(window))  # until is exclusive


def test_replays_and_rebuilds_record_themselves(engine: Engine) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)

    def rebuild(tenant: TenantId | None) -> Rebuilt:
        return Rebuilt((HUSHAN, XIANGYUAN), 40)

    operations = Operations(
        service="kitaudit",
        engine=engine,
        kafka_bootstrap_servers="",
        projections={"census": rebuild},
    )
    replayed = replay_outbox(
        engine, ReplayRange(since=since, tenant=HUSHAN), service="kitaudit", actor=ADMIN
    )
    reply = rebuild_projection(operations, "census", SHUSHAN, actor=ADMIN)
    assert (list(reply.tenant_ids), reply.rows) == ([HUSHAN.value, XIANGYUAN.value], 40)

    newest = list_entries(engine, AuditQuery(page=Page(2, None), tenant=SHUSHAN)).entries
    rebuilt, replay = newest
    assert (rebuilt.action, rebuilt.tenant, rebuilt.actor_name) == (
        "ops.projection_rebuilt",
        SHUSHAN,
        "shushan-admin",
    )
    assert rebuilt.detail == {
        "service": "kitaudit",
        "projection": "census",
        "communities": 2,
        "rows": 40,
    }
    assert (replay.action, replay.tenant, replay.detail["replayed"]) == (
        "ops.outbox_replayed",
        HUSHAN,
        replayed,
    )
