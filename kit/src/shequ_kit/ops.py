"""Operations on a process's own mechanics: its outbox, its consumer groups, its projections.

Every service serves ``shequ.ops.v1.OpsService`` by handing ``Operations`` to
``build_grpc_server(operations=...)``; the gateway calls the same functions on its own outbox
and asks the services for theirs (``/api/v1/ops/…``, ``shequctl``). The kit never imports a
service: a service that owns projections registers a rebuild function per projection name.

- **Outbox status**: pending events (the relay's partial index finds them), the oldest one's
  age, and how many Kafka acknowledged in the last hour, per topic.
- **Replay**: sent rows of a time range (narrowed by tenant subtree, aggregate, topic) become
  pending again, and the relay is woken; it publishes them in id order as the first time.
  Consumers record processed event ids, so replaying is safe: whoever had an event skips it.
- **Consumer status**: per group and partition the committed offset, the end offset and the
  lag (Kafka's view), plus how many events the group recorded in ``processed_events``.
- **Rebuild**: the named projection's rebuild function, for one tenant's subtree or all.
- **Audit log**: the process's log of administrative actions (``shequ_kit.audit``), newest
  first; replays and rebuilds are recorded in it too.

Platform administrators may do all of it; a street administrator only with a tenant of their
own subtree (``authorize_operator``). Consumer status shows Kafka offsets, which are not
per tenant, so it is for platform administrators only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from sqlalchemy import (
    ColumnElement,
    Engine,
    MetaData,
    and_,
    func,
    or_,
    select,
    text,
    update,
)

from shequ.common.v1 import paging_pb2
from shequ.ops.v1 import ops_pb2, ops_pb2_grpc
from shequ_kit import audit
from shequ_kit.access import caller
from shequ_kit.consumer import processed_events_table
from shequ_kit.db import system_scope, tenant_sessionmaker
from shequ_kit.errors import (
    DomainError,
    ErrorKind,
    FieldViolation,
    invalid_input,
    not_found,
    permission_denied,
)
from shequ_kit.outbox import RELAY_CHANNEL, outbox_table
from shequ_kit.paging import page_of
from shequ_kit.tenancy import InvalidTenantIdError, TenantId
from shequ_kit.tokens import Principal, Role

SERVICE_NAME: Final = ops_pb2.DESCRIPTOR.services_by_name["OpsService"].full_name
# The ops calls concern the platform, not one tenant: they run without x-tenant-id.
TENANTLESS_METHODS: Final = tuple(
    f"/{SERVICE_NAME}/{method.name}"
    for method in ops_pb2.DESCRIPTOR.services_by_name["OpsService"].methods
)
_RECENT_S: Final = 3600

_OUTBOX = outbox_table(MetaData())
_PROCESSED = processed_events_table(MetaData())

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerGroup:
    """A consumer group the service runs and the topics it reads."""

    group: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Rebuilt:
    """What a projection rebuild did: the communities it rebuilt and the rows it wrote."""

    tenants: tuple[TenantId, ...]
    rows: int


# Rebuilds one projection for ``tenant``'s subtree, or everywhere the service knows for None.
ProjectionRebuild = Callable[[TenantId | None], Rebuilt]


@dataclass(frozen=True)
class Operations:
    """What a process hands ``build_grpc_server(operations=...)`` to serve ``OpsService``."""

    service: str
    engine: Engine
    kafka_bootstrap_servers: str
    consumers: Sequence[ConsumerGroup] = ()
    projections: Mapping[str, ProjectionRebuild] = field(default_factory=dict)
    kafka_timeout_s: float = 10.0


def authorize_operator(principal: Principal, tenant: TenantId | None) -> None:
    """Platform administrators, or a street administrator for a tenant of their subtree."""
    if principal.is_platform_admin:
        return
    if tenant is not None and principal.has(Role.STREET_ADMIN, tenant):
        return
    if tenant is None:
        raise permission_denied(
            "只有平台管理员可以运维整个平台；街道管理员请指定本街道的社区",
            "only platform administrators operate the whole platform; a street administrator "
            "names a tenant of their own street",
            required_roles=Role.PLATFORM_ADMIN.value,
        )
    principal.require(tenant, Role.PLATFORM_ADMIN, Role.STREET_ADMIN)


def optional_tenant(raw: str, field_name: str) -> TenantId | None:
    """The tenant a request names (empty: none), or a 422-style error naming ``field_name``."""
    if not raw:
        return None
    try:
        return TenantId.parse(raw)
    except InvalidTenantIdError as error:
        raise invalid_input(
            "ops.invalid_tenant",
            "租户标识格式不正确",
            f"{field_name} is not a tenant id: {error}",
            FieldViolation(field_name, str(error)),
        ) from error


def _in_subtree(column: Any, tenant: TenantId) -> ColumnElement[bool]:
    return or_(column == tenant.value, column.like(tenant.value + ".%"))


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def outbox_status(
    engine: Engine, service: str, tenant: TenantId | None
) -> ops_pb2.OutboxStatusResponse:
    """Pending events, the oldest one's age and last hour's publications, per topic."""
    outbox = _OUTBOX.c
    pending = outbox.sent_at.is_(None)
    recent = outbox.sent_at >= func.now() - text(f"interval '{_RECENT_S} seconds'")
    statement = (
        select(
            outbox.topic,
            func.count().filter(pending),
            func.min(outbox.created_at).filter(pending),
            func.count().filter(recent),
            func.now(),
        )
        .where(or_(pending, recent))
        .group_by(outbox.topic)
        .order_by(outbox.topic)
    )
    if tenant is not None:
        statement = statement.where(_in_subtree(outbox.tenant_id, tenant))
    with system_scope(), tenant_sessionmaker(engine)() as session:
        rows = session.execute(statement).all()
    reply = ops_pb2.OutboxStatusResponse(service=service)
    for topic, waiting, oldest, published, now in rows:
        entry = ops_pb2.TopicOutbox(topic=topic, pending=waiting, published_last_hour=published)
        if oldest is not None:
            entry.oldest_pending_at.CopyFrom(_timestamp(oldest))
            entry.oldest_pending_age_seconds = max((now - oldest).total_seconds(), 0.0)
        reply.topics.append(entry)
        reply.pending += waiting
        reply.published_last_hour += published
        reply.oldest_pending_age_seconds = max(
            reply.oldest_pending_age_seconds, entry.oldest_pending_age_seconds
        )
    return reply


@dataclass(frozen=True)
class ReplayRange:
    """Which sent events to publish again."""

    since: datetime
    until: datetime | None = None
    tenant: TenantId | None = None
    aggregate_id: str = ""
    topic: str = ""

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or (self.until is not None and self.until.tzinfo is None):
            raise ValueError("replay bounds must be timezone-aware")
        if self.until is not None and self.until <= self.since:
            raise invalid_input(
                "ops.replay_range",
                "结束时间必须晚于开始时间",
                "until must be after since",
                FieldViolation("until", "must be after since"),
            )


def replay_outbox(
    engine: Engine, replay: ReplayRange, *, service: str, actor: Principal | None = None
) -> int:
    """Mark the range's sent events pending again and wake the relay; returns how many.

    Recorded in the audit log in the same transaction (``actor``: the caller, when the process
    does not bind it in context)."""
    outbox = _OUTBOX.c
    conditions = [outbox.sent_at.is_not(None), outbox.created_at >= replay.since]
    if replay.until is not None:
        conditions.append(outbox.created_at < replay.until)
    if replay.tenant is not None:
        conditions.append(_in_subtree(outbox.tenant_id, replay.tenant))
    if replay.aggregate_id:
        conditions.append(outbox.aggregate_id == replay.aggregate_id)
    if replay.topic:
        conditions.append(outbox.topic == replay.topic)
    with system_scope(), tenant_sessionmaker(engine).begin() as session:
        replayed = (
            session.connection()
            .execute(update(_OUTBOX).where(and_(*conditions)).values(sent_at=None))
            .rowcount
        )
        if replayed:
            # As outbox.publish does: the relay publishes at once instead of at its next poll.
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": RELAY_CHANNEL})
        audit.record(
            session,
            "ops.outbox_replayed",
            target_kind="outbox",
            target_id=service,
            summary=f"重放 {service} 服务发件箱中已发布的事件 {replayed} 条",
            summary_en=f"replayed {replayed} sent event(s) of the {service} outbox",
            detail={
                "service": service,
                "replayed": int(replayed),
                "since": replay.since.isoformat(),
                "until": replay.until.isoformat() if replay.until else None,
                "aggregate_id": replay.aggregate_id,
                "topic": replay.topic,
            },
            tenant=replay.tenant or audit.PLATFORM,
            actor=actor,
        )
    log.info(
        "outbox replay: %d event(s) pending again",
        replayed,
        extra={"fields": {"since": replay.since.isoformat(), "tenant": str(replay.tenant or "")}},
    )
    return int(replayed)


def _kafka_unavailable(error: KafkaError) -> DomainError:
    return DomainError(
        "ops.kafka_unavailable",
        "暂时无法连接 Kafka，请稍后重试",
        f"Kafka cannot be reached: {error!r}",
        ErrorKind.UNAVAILABLE,
    )


@dataclass(frozen=True)
class _Offsets:
    committed: Mapping[str, Mapping[TopicPartition, int]]  # by group
    beginning: Mapping[TopicPartition, int]
    end: Mapping[TopicPartition, int]


def _committed_offsets(admin: Any, group: str, deadline: float) -> dict[TopicPartition, int]:
    """The group's committed offsets. A retriable refusal (the coordinator still loading, as on
    a young cluster whose offsets topic is being created) is asked again until ``deadline``."""
    while True:
        try:
            offsets = admin.list_group_offsets({group: None}).get(group, {})
        except KafkaError as error:
            if not error.retriable or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
            continue
        return {tp: meta.offset for tp, meta in offsets.items()}


def _offsets_of(
    groups: Sequence[ConsumerGroup], bootstrap_servers: str, timeout_s: float
) -> _Offsets:
    """Each group's committed offsets, and where every partition of their topics begins and
    ends."""
    timeout_ms = int(timeout_s * 1000)
    admin: Any = None
    reader: Any = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="shequ-ops",
            request_timeout_ms=timeout_ms,
        )
        reader = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="shequ-ops",
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=max(timeout_ms, 1000),
        )
        deadline = time.monotonic() + timeout_s
        committed = {g.group: _committed_offsets(admin, g.group, deadline) for g in groups}
        partitions = [
            TopicPartition(topic, number)
            for topic in sorted({t for g in groups for t in g.topics})
            for number in sorted(reader.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return _Offsets(committed, {}, {})
        return _Offsets(
            committed, reader.beginning_offsets(partitions), reader.end_offsets(partitions)
        )
    except KafkaError as error:
        raise _kafka_unavailable(error) from error
    finally:
        if reader is not None:
            reader.close()
        if admin is not None:
            admin.close()


def consumer_status(
    engine: Engine,
    service: str,
    groups: Sequence[ConsumerGroup],
    *,
    bootstrap_servers: str,
    timeout_s: float = 10.0,
) -> ops_pb2.ConsumerStatusResponse:
    """Lag per group and partition (Kafka's view) and events processed (the database's)."""
    reply = ops_pb2.ConsumerStatusResponse(service=service)
    if not groups:
        return reply
    offsets = _offsets_of(groups, bootstrap_servers, timeout_s)
    processed = _PROCESSED.c
    recent = processed.processed_at >= func.now() - text(f"interval '{_RECENT_S} seconds'")
    with system_scope(), tenant_sessionmaker(engine)() as session:
        counts = {
            group: (total, last_hour)
            for group, total, last_hour in session.execute(
                select(
                    processed.consumer_group,
                    func.count(),
                    func.count().filter(recent),
                )
                .where(processed.consumer_group.in_([g.group for g in groups]))
                .group_by(processed.consumer_group)
            ).all()
        }
    for group in groups:
        status = ops_pb2.ConsumerGroupStatus(group=group.group, topics=list(group.topics))
        committed = offsets.committed.get(group.group, {})
        for tp in sorted(offsets.end, key=lambda p: (p.topic, p.partition)):
            if tp.topic not in group.topics:
                continue
            end = offsets.end[tp]
            at = committed.get(tp)
            # A partition the group never committed on is read from its beginning (the
            # consumers' auto_offset_reset is "earliest"): its lag is everything retained.
            position = at if at is not None and at >= 0 else offsets.beginning.get(tp, 0)
            lag = max(end - position, 0)
            status.partitions.append(
                ops_pb2.PartitionLag(
                    topic=tp.topic,
                    partition=tp.partition,
                    committed_offset=at if at is not None and at >= 0 else -1,
                    end_offset=end,
                    lag=lag,
                )
            )
            status.lag += lag
        status.processed_events, status.processed_last_hour = counts.get(group.group, (0, 0))
        reply.groups.append(status)
    return reply


def rebuild_projection(
    operations: Operations, name: str, tenant: TenantId | None, *, actor: Principal | None = None
) -> ops_pb2.RebuildProjectionResponse:
    """Run the service's rebuild of ``name``; NOT_FOUND for a projection it does not own.

    Recorded in the audit log once the rebuild is done (it commits its own transactions)."""
    rebuild = operations.projections.get(name)
    if rebuild is None:
        owned = ", ".join(sorted(operations.projections)) or "none"
        raise not_found(
            "ops.unknown_projection",
            f"{operations.service} 服务没有名为 {name} 的投影（可选：{owned}）",
            f"{operations.service} owns no projection named {name!r} (it owns: {owned})",
        )
    rebuilt = rebuild(tenant)
    with system_scope(), tenant_sessionmaker(operations.engine).begin() as session:
        audit.record(
            session,
            "ops.projection_rebuilt",
            target_kind="projection",
            target_id=f"{operations.service}/{name}",
            summary=f"重建 {operations.service} 服务的 {name} 投影：{len(rebuilt.tenants)} "
            f"个社区，{rebuilt.rows} 行",
            summary_en=f"rebuilt the {operations.service} {name} projection: "
            f"{len(rebuilt.tenants)} communities, {rebuilt.rows} rows",
            detail={
                "service": operations.service,
                "projection": name,
                "communities": len(rebuilt.tenants),
                "rows": rebuilt.rows,
            },
            tenant=tenant or audit.PLATFORM,
            actor=actor,
        )
    log.info(
        "projection %s rebuilt: %d rows",
        name,
        rebuilt.rows,
        extra={"fields": {"tenants": [t.value for t in rebuilt.tenants]}},
    )
    return ops_pb2.RebuildProjectionResponse(
        service=operations.service,
        name=name,
        tenant_ids=[t.value for t in rebuilt.tenants],
        rows=rebuilt.rows,
    )


def replay_range_of(request: ops_pb2.ReplayOutboxRequest) -> ReplayRange:
    """The range a ``ReplayOutboxRequest`` names; ``since`` is required."""
    if not request.HasField("since"):
        raise invalid_input(
            "ops.replay_since",
            "请指定重放的开始时间",
            "since is required: the first instant whose events are published again",
            FieldViolation("since", "required"),
        )
    return ReplayRange(
        since=request.since.ToDatetime(tzinfo=UTC),
        until=request.until.ToDatetime(tzinfo=UTC) if request.HasField("until") else None,
        tenant=optional_tenant(request.tenant_id, "tenant_id"),
        aggregate_id=request.aggregate_id,
        topic=request.topic,
    )


class OpsServicer(ops_pb2_grpc.OpsServiceServicer):
    """``shequ.ops.v1.OpsService`` over one process's engine, Kafka and projections."""

    def __init__(self, operations: Operations) -> None:
        self._ops = operations

    def OutboxStatus(  # noqa: N802 - named by the proto
        self, request: ops_pb2.OutboxStatusRequest, context: grpc.ServicerContext
    ) -> ops_pb2.OutboxStatusResponse:
        """Pending and recently published events, per topic."""
        tenant = optional_tenant(request.tenant_id, "tenant_id")
        authorize_operator(caller(), tenant)
        return outbox_status(self._ops.engine, self._ops.service, tenant)

    def ReplayOutbox(  # noqa: N802 - named by the proto
        self, request: ops_pb2.ReplayOutboxRequest, context: grpc.ServicerContext
    ) -> ops_pb2.ReplayOutboxResponse:
        """Publish a range of sent events again."""
        replay = replay_range_of(request)
        authorize_operator(caller(), replay.tenant)
        return ops_pb2.ReplayOutboxResponse(
            service=self._ops.service,
            replayed=replay_outbox(self._ops.engine, replay, service=self._ops.service),
        )

    def ConsumerStatus(  # noqa: N802 - named by the proto
        self, request: ops_pb2.ConsumerStatusRequest, context: grpc.ServicerContext
    ) -> ops_pb2.ConsumerStatusResponse:
        """Lag and processed events of the service's consumer groups."""
        authorize_operator(caller(), None)
        return consumer_status(
            self._ops.engine,
            self._ops.service,
            self._ops.consumers,
            bootstrap_servers=self._ops.kafka_bootstrap_servers,
            timeout_s=self._ops.kafka_timeout_s,
        )

    def RebuildProjection(  # noqa: N802 - named by the proto
        self, request: ops_pb2.RebuildProjectionRequest, context: grpc.ServicerContext
    ) -> ops_pb2.RebuildProjectionResponse:
        """Rebuild a projection the service owns."""
        tenant = optional_tenant(request.tenant_id, "tenant_id")
        authorize_operator(caller(), tenant)
        return rebuild_projection(self._ops, request.name, tenant)

    def ListAuditEntries(  # noqa: N802 - named by the proto
        self, request: ops_pb2.ListAuditEntriesRequest, context: grpc.ServicerContext
    ) -> ops_pb2.ListAuditEntriesResponse:
        """The process's audit log of administrative actions, newest first."""
        query = audit_query_of(request)
        authorize_operator(caller(), query.tenant)
        return list_audit_entries(self._ops.engine, self._ops.service, query)


def audit_query_of(request: ops_pb2.ListAuditEntriesRequest) -> audit.AuditQuery:
    """The entries a ``ListAuditEntriesRequest`` asks for."""
    return audit.AuditQuery(
        page=page_of(request.page),
        tenant=optional_tenant(request.tenant_id, "tenant_id"),
        action_prefix=request.action_prefix,
        actor=request.actor,
        since=request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None,
        until=request.until.ToDatetime(tzinfo=UTC) if request.HasField("until") else None,
    )


def audit_entry_to_proto(entry: audit.AuditEntry, service: str) -> ops_pb2.AuditEntry:
    return ops_pb2.AuditEntry(
        id=str(entry.id),
        tenant_id=entry.tenant.value if entry.tenant is not None else "",
        occurred_at=_timestamp(entry.occurred_at),
        actor_subject=entry.actor_subject,
        actor_name=entry.actor_name,
        action=entry.action,
        target_kind=entry.target_kind,
        target_id=entry.target_id,
        summary_zh=entry.summary,
        summary_en=entry.summary_en,
        detail_json=json.dumps(entry.detail, ensure_ascii=False),
        request_id=entry.request_id,
        service=service,
    )


def list_audit_entries(
    engine: Engine, service: str, query: audit.AuditQuery
) -> ops_pb2.ListAuditEntriesResponse:
    """One page of the process's audit log, newest first."""
    found = audit.list_entries(engine, query)
    return ops_pb2.ListAuditEntriesResponse(
        service=service,
        entries=[audit_entry_to_proto(entry, service) for entry in found.entries],
        page=paging_pb2.PageResponse(next_page_token=found.next_page_token, total_size=-1),
    )


def register_operations(operations: Operations) -> Callable[[grpc.Server], None]:
    """The registration ``build_grpc_server`` runs for ``operations``."""

    def register(server: grpc.Server) -> None:
        ops_pb2_grpc.add_OpsServiceServicer_to_server(OpsServicer(operations), server)

    return register


__all__ = [
    "SERVICE_NAME",
    "TENANTLESS_METHODS",
    "ConsumerGroup",
    "Operations",
    "OpsServicer",
    "ProjectionRebuild",
    "Rebuilt",
    "ReplayRange",
    "audit_entry_to_proto",
    "audit_query_of",
    "authorize_operator",
    "consumer_status",
    "list_audit_entries",
    "optional_tenant",
    "outbox_status",
    "rebuild_projection",
    "register_operations",
    "replay_outbox",
    "replay_range_of",
]
