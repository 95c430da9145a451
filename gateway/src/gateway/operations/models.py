"""REST shapes of /api/v1/ops/…: the services' OpsService answers, one entry per service."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from gateway.grid.models import SHANGHAI
from shequ.ops.v1 import ops_pb2


class ServiceName(StrEnum):
    """The processes with an outbox: the gateway itself and the four services."""

    GATEWAY = "gateway"
    CENSUS = "census"
    GRID = "grid"
    CASES = "cases"
    NOTIFY = "notify"


class ServiceFailure(BaseModel):
    """Why a service gave no answer (the others' answers still count)."""

    code: str = Field(examples=["UNAVAILABLE"])
    detail: str
    detail_en: str


class TopicOutboxOut(BaseModel):
    topic: str = Field(examples=["shequ.cases.v1"])
    pending: int = Field(description="待发布 Written, not yet acknowledged by Kafka")
    oldest_pending_at: datetime | None = Field(
        description="最早一条待发布事件的写入时间（北京时间） When the oldest pending was written"
    )
    oldest_pending_age_seconds: float
    published_last_hour: int = Field(description="近一小时已发布 Published in the last hour")

    @classmethod
    def of(cls, topic: ops_pb2.TopicOutbox) -> TopicOutboxOut:
        oldest = (
            topic.oldest_pending_at.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI)
            if topic.HasField("oldest_pending_at")
            else None
        )
        return cls(
            topic=topic.topic,
            pending=topic.pending,
            oldest_pending_at=oldest,
            oldest_pending_age_seconds=round(topic.oldest_pending_age_seconds, 3),
            published_last_hour=topic.published_last_hour,
        )


class ServiceOutboxOut(BaseModel):
    service: ServiceName
    pending: int = 0
    oldest_pending_age_seconds: float = 0.0
    published_last_hour: int = 0
    topics: list[TopicOutboxOut] = Field(default_factory=list)
    error: ServiceFailure | None = None

    @classmethod
    def of(cls, service: ServiceName, reply: ops_pb2.OutboxStatusResponse) -> ServiceOutboxOut:
        return cls(
            service=service,
            pending=reply.pending,
            oldest_pending_age_seconds=round(reply.oldest_pending_age_seconds, 3),
            published_last_hour=reply.published_last_hour,
            topics=[TopicOutboxOut.of(t) for t in reply.topics],
        )


class OutboxOverview(BaseModel):
    services: list[ServiceOutboxOut]


class ReplayOutbox(BaseModel):
    service: ServiceName = Field(description="哪个服务的发件箱 Whose outbox")
    since: datetime = Field(
        description="从此时起写入的事件（无时区即北京时间） Events written from (naive: Beijing)",
        examples=["2026-11-23T08:00:00+08:00"],
    )
    until: datetime | None = Field(
        default=None, description="到此时为止，不含；默认现在 Up to, excluded; default now"
    )
    tenant: str | None = Field(
        default=None,
        max_length=200,
        description="只重放此租户及其下级 Only this tenant's subtree",
        examples=["xiaoshan.shushan.shibei"],
    )
    aggregate_id: str | None = Field(default=None, max_length=200)
    topic: str | None = Field(default=None, max_length=249)


class ReplayOut(BaseModel):
    service: ServiceName
    replayed: int = Field(description="重新置为待发布的事件数 Events pending again")


class PartitionLagOut(BaseModel):
    topic: str
    partition: int
    committed_offset: int = Field(description="-1: 尚未提交 none committed yet")
    end_offset: int
    lag: int


class ConsumerGroupOut(BaseModel):
    group: str
    topics: list[str]
    lag: int
    processed_events: int
    processed_last_hour: int
    partitions: list[PartitionLagOut]

    @classmethod
    def of(cls, group: ops_pb2.ConsumerGroupStatus) -> ConsumerGroupOut:
        return cls(
            group=group.group,
            topics=list(group.topics),
            lag=group.lag,
            processed_events=group.processed_events,
            processed_last_hour=group.processed_last_hour,
            partitions=[
                PartitionLagOut(
                    topic=p.topic,
                    partition=p.partition,
                    committed_offset=p.committed_offset,
                    end_offset=p.end_offset,
                    lag=p.lag,
                )
                for p in group.partitions
            ],
        )


class ServiceConsumersOut(BaseModel):
    service: ServiceName
    groups: list[ConsumerGroupOut] = Field(default_factory=list)
    error: ServiceFailure | None = None


class ConsumersOverview(BaseModel):
    services: list[ServiceConsumersOut]


class RebuildProjection(BaseModel):
    tenant: str | None = Field(
        default=None,
        max_length=200,
        description="只重建此租户及其下级；默认全部 Only this subtree; default every tenant",
    )


class RebuildOut(BaseModel):
    service: ServiceName
    name: str
    tenant_ids: list[str] = Field(description="已重建的社区 Communities rebuilt")
    rows: int

    @classmethod
    def of(cls, service: ServiceName, reply: ops_pb2.RebuildProjectionResponse) -> RebuildOut:
        return cls(
            service=service, name=reply.name, tenant_ids=list(reply.tenant_ids), rows=reply.rows
        )
