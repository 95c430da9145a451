"""/api/v1/ops/…: the platform's operations, for platform administrators (``shequctl``).

- ``GET outbox`` — every process's outbox: pending events, the oldest one's age, last hour's
  publications, per topic (the gateway's own outbox is read here, the services' through their
  ``OpsService``).
- ``POST outbox/replay`` — publish one process's sent events of a time range again.
- ``GET consumers`` — each consumer group's lag per partition and its processed events.
- ``POST projections/{service}/{name}/rebuild`` — rebuild a projection a service owns.

Who: platform administrators; a street administrator for a tenant of their own street (the
outbox and rebuild calls take a ``tenant``). The services check the same again (zero trust). A
service that does not answer is listed with its error, so the others' answers still show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Annotated, Any, Final

import grpc
from fastapi import APIRouter, Path, Query, Request
from google.protobuf.message import Message

from gateway.access import admits
from gateway.grid.models import timestamp_of
from gateway.operations.models import (
    ConsumerGroupOut,
    ConsumersOverview,
    OutboxOverview,
    RebuildOut,
    RebuildProjection,
    ReplayOut,
    ReplayOutbox,
    ServiceConsumersOut,
    ServiceFailure,
    ServiceName,
    ServiceOutboxOut,
)
from gateway.security import CurrentPrincipal
from gateway.service_calls import call_metadata
from shequ.ops.v1 import ops_pb2, ops_pb2_grpc
from shequ_kit import ops
from shequ_kit.grpc_client import error_detail
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, Role

router = APIRouter(prefix="/api/v1/ops", tags=["operations 运维"])

# Replays and rebuilds touch many rows (a rebuild asks census for every resident): longer than
# an ordinary call's deadline.
LONG_CALL_TIMEOUT_S: Final = 300.0
# A refusal or a bad request is the caller's to see, whichever service said it; anything else
# (down, slow, broken) is that service's entry in the overview.
_CALLERS_FAULT: Final = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
)


def _tenant_of(raw: str | None, field: str) -> TenantId | None:
    return ops.optional_tenant(raw or "", field)


def _failure(error: grpc.RpcError) -> ServiceFailure:
    detail = error_detail(error)
    code: grpc.StatusCode = error.code()
    if detail is not None:
        return ServiceFailure(code=code.name, detail=detail.message_zh, detail_en=detail.message_en)
    return ServiceFailure(
        code=code.name,
        detail="服务暂时无法应答",
        detail_en=str(error.details() or code.name),
    )


def _ask_every_service(
    request: Request,
    principal: Principal,
    method: Callable[[ops_pb2_grpc.OpsServiceStub], Any],
    message: Message,
) -> dict[ServiceName, Message | ServiceFailure]:
    """The same call to every service at once; each answer, or why there is none."""
    stubs: Mapping[str, ops_pb2_grpc.OpsServiceStub] = request.app.state.core.ops
    timeout = request.app.state.core.settings.grpc_timeout_s
    pending = {
        ServiceName(name): method(stub).future(
            message, metadata=call_metadata(principal, None), timeout=timeout
        )
        for name, stub in stubs.items()
    }
    answers: dict[ServiceName, Message | ServiceFailure] = {}
    for name, future in pending.items():
        try:
            answers[name] = future.result()
        except grpc.RpcError as error:
            if error.code() in _CALLERS_FAULT:
                raise
            answers[name] = _failure(error)
    return answers


def _gateway_operations(request: Request) -> ops.Operations:
    core = request.app.state.core
    return ops.Operations(
        service=ServiceName.GATEWAY.value,
        engine=core.engine,
        kafka_bootstrap_servers=core.settings.kafka_bootstrap_servers,
    )


@router.get(
    "/outbox",
    operation_id="getOutboxStatus",
    openapi_extra=admits(Role.PLATFORM_ADMIN, Role.STREET_ADMIN),
    response_model=OutboxOverview,
)
def outbox_status(
    request: Request,
    principal: CurrentPrincipal,
    tenant: Annotated[
        str | None, Query(max_length=200, description="只看此租户及其下级 Only this subtree")
    ] = None,
) -> OutboxOverview:
    """各服务发件箱：待发布数、最早待发布的时长、近一小时发布数（按主题）。
    Every process's outbox: pending events, the oldest one's age, last hour's publications."""
    scope = _tenant_of(tenant, "query.tenant")
    ops.authorize_operator(principal, scope)
    own = ops.outbox_status(request.app.state.core.engine, ServiceName.GATEWAY.value, scope)
    entries = [ServiceOutboxOut.of(ServiceName.GATEWAY, own)]
    answers = _ask_every_service(
        request,
        principal,
        lambda stub: stub.OutboxStatus,
        ops_pb2.OutboxStatusRequest(tenant_id=scope.value if scope else ""),
    )
    for name, answer in answers.items():
        if isinstance(answer, ServiceFailure):
            entries.append(ServiceOutboxOut(service=name, error=answer))
        else:
            assert isinstance(answer, ops_pb2.OutboxStatusResponse)
            entries.append(ServiceOutboxOut.of(name, answer))
    return OutboxOverview(services=entries)


@router.post(
    "/outbox/replay",
    operation_id="replayOutbox",
    openapi_extra=admits(Role.PLATFORM_ADMIN, Role.STREET_ADMIN),
    response_model=ReplayOut,
)
def replay_outbox(request: Request, principal: CurrentPrincipal, body: ReplayOutbox) -> ReplayOut:
    """重放一个服务在某时间段内已发布的事件（消费者按事件编号去重，可安全重放）。
    Publish one process's sent events of a time range again (consumers deduplicate by id)."""
    scope = _tenant_of(body.tenant, "body.tenant")
    ops.authorize_operator(principal, scope)
    since = timestamp_of(body.since)
    until = timestamp_of(body.until) if body.until is not None else None
    if body.service is ServiceName.GATEWAY:
        replayed = ops.replay_outbox(
            request.app.state.core.engine,
            ops.ReplayRange(
                since=since.ToDatetime(tzinfo=UTC),
                until=until.ToDatetime(tzinfo=UTC) if until is not None else None,
                tenant=scope,
                aggregate_id=body.aggregate_id or "",
                topic=body.topic or "",
            ),
            service=body.service.value,
            actor=principal,
        )
        return ReplayOut(service=body.service, replayed=replayed)
    stub: ops_pb2_grpc.OpsServiceStub = request.app.state.core.ops[body.service.value]
    reply: ops_pb2.ReplayOutboxResponse = stub.ReplayOutbox(
        ops_pb2.ReplayOutboxRequest(
            since=since,
            until=until,
            tenant_id=scope.value if scope else "",
            aggregate_id=body.aggregate_id or "",
            topic=body.topic or "",
        ),
        metadata=call_metadata(principal, None),
        timeout=LONG_CALL_TIMEOUT_S,
    )
    return ReplayOut(service=body.service, replayed=reply.replayed)


@router.get(
    "/consumers",
    operation_id="getConsumerLag",
    openapi_extra=admits(Role.PLATFORM_ADMIN),
    response_model=ConsumersOverview,
)
def consumer_lag(request: Request, principal: CurrentPrincipal) -> ConsumersOverview:
    """各消费组的积压（按分区）与已处理事件数（仅平台管理员）。
    Each consumer group's lag per partition and processed events (platform administrators)."""
    ops.authorize_operator(principal, None)
    answers = _ask_every_service(
        request, principal, lambda stub: stub.ConsumerStatus, ops_pb2.ConsumerStatusRequest()
    )
    entries: list[ServiceConsumersOut] = []
    for name, answer in answers.items():
        if isinstance(answer, ServiceFailure):
            entries.append(ServiceConsumersOut(service=name, error=answer))
        else:
            assert isinstance(answer, ops_pb2.ConsumerStatusResponse)
            entries.append(
                ServiceConsumersOut(
                    service=name, groups=[ConsumerGroupOut.of(g) for g in answer.groups]
                )
            )
    return ConsumersOverview(services=entries)


@router.post(
    "/projections/{service}/{name}/rebuild",
    operation_id="rebuildProjection",
    openapi_extra=admits(Role.PLATFORM_ADMIN, Role.STREET_ADMIN),
    response_model=RebuildOut,
)
def rebuild_projection(
    request: Request,
    principal: CurrentPrincipal,
    service: ServiceName,
    name: Annotated[str, Path(max_length=100, description="投影名称 Projection (grid: census)")],
    body: RebuildProjection | None = None,
) -> RebuildOut:
    """从数据源重建某服务的投影（如 grid 的 census 投影）。
    Rebuild a projection a service owns from its source (grid's "census")."""
    scope = _tenant_of(body.tenant if body else None, "body.tenant")
    ops.authorize_operator(principal, scope)
    if service is ServiceName.GATEWAY:
        reply = ops.rebuild_projection(_gateway_operations(request), name, scope, actor=principal)
        return RebuildOut.of(service, reply)
    stub: ops_pb2_grpc.OpsServiceStub = request.app.state.core.ops[service.value]
    answer: ops_pb2.RebuildProjectionResponse = stub.RebuildProjection(
        ops_pb2.RebuildProjectionRequest(name=name, tenant_id=scope.value if scope else ""),
        metadata=call_metadata(principal, None),
        timeout=LONG_CALL_TIMEOUT_S,
    )
    return RebuildOut.of(service, answer)
