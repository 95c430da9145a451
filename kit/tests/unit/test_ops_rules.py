"""Who may operate the platform, and which requests the ops calls refuse before any work."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from shequ.ops.v1 import ops_pb2
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.ops import (
    TENANTLESS_METHODS,
    Operations,
    Rebuilt,
    ReplayRange,
    authorize_operator,
    rebuild_projection,
    replay_range_of,
)
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, grants_from_groups

SHUSHAN = TenantId("xiaoshan.shushan")
HUSHAN = TenantId("xiaoshan.shushan.hushan")
BEIGAN = TenantId("xiaoshan.beigan")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def principal(*groups: str) -> Principal:
    return Principal(
        subject="s",
        username="u",
        grants=grants_from_groups(groups),
        token="t",
        expires_at=NOW + timedelta(hours=1),
    )


PLATFORM = principal("/platform-admin")
SHUSHAN_ADMIN = principal("/xiaoshan/shushan/street-admin")
HUSHAN_STAFF = principal("/xiaoshan/shushan/hushan/community-staff")


def refusal(call: Any) -> DomainError:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value


@pytest.mark.parametrize("tenant", [None, HUSHAN, BEIGAN])
def test_platform_admin_operates_everywhere(tenant: TenantId | None) -> None:
    authorize_operator(PLATFORM, tenant)


@pytest.mark.parametrize("tenant", [SHUSHAN, HUSHAN])
def test_street_admin_operates_their_own_subtree(tenant: TenantId) -> None:
    authorize_operator(SHUSHAN_ADMIN, tenant)


def test_street_admin_cannot_operate_another_street() -> None:
    error = refusal(lambda: authorize_operator(SHUSHAN_ADMIN, BEIGAN))
    assert error.kind is ErrorKind.PERMISSION_DENIED
    assert error.params["tenant"] == BEIGAN.value


def test_street_admin_cannot_operate_the_whole_platform() -> None:
    error = refusal(lambda: authorize_operator(SHUSHAN_ADMIN, None))
    assert error.kind is ErrorKind.PERMISSION_DENIED
    assert "平台管理员" in error.message_zh
    assert error.params["required_roles"] == "platform-admin"


@pytest.mark.parametrize("tenant", [None, HUSHAN])
def test_community_staff_never_operate(tenant: TenantId | None) -> None:
    assert refusal(lambda: authorize_operator(HUSHAN_STAFF, tenant)).kind is (
        ErrorKind.PERMISSION_DENIED
    )


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def test_replay_needs_since() -> None:
    error = refusal(lambda: replay_range_of(ops_pb2.ReplayOutboxRequest(tenant_id=HUSHAN.value)))
    assert error.code == "ops.replay_since"
    assert [v.field for v in error.field_violations] == ["since"]


def test_replay_range_must_not_end_before_it_starts() -> None:
    request = ops_pb2.ReplayOutboxRequest(since=stamp(NOW), until=stamp(NOW - timedelta(hours=1)))
    error = refusal(lambda: replay_range_of(request))
    assert error.code == "ops.replay_range"
    assert [v.field for v in error.field_violations] == ["until"]


def test_replay_request_names_a_malformed_tenant_by_field() -> None:
    request = ops_pb2.ReplayOutboxRequest(since=stamp(NOW), tenant_id="Not A Tenant")
    error = refusal(lambda: replay_range_of(request))
    assert error.code == "ops.invalid_tenant"
    assert [v.field for v in error.field_violations] == ["tenant_id"]


def test_replay_request_becomes_a_utc_range() -> None:
    request = ops_pb2.ReplayOutboxRequest(
        since=stamp(NOW), until=stamp(NOW + timedelta(hours=2)), tenant_id=HUSHAN.value
    )
    replay = replay_range_of(request)
    assert replay == ReplayRange(
        since=NOW, until=NOW + timedelta(hours=2), tenant=HUSHAN, aggregate_id="", topic=""
    )


def test_naive_replay_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ReplayRange(since=NOW.replace(tzinfo=None))


def test_rebuilding_an_unknown_projection_names_the_ones_owned() -> None:
    calls: list[TenantId | None] = []

    def census(tenant: TenantId | None) -> Rebuilt:
        calls.append(tenant)
        return Rebuilt((HUSHAN,), 12)

    operations = Operations(
        service="grid",
        engine=None,  # type: ignore[arg-type]  # an unknown projection is refused first
        kafka_bootstrap_servers="",
        projections={"census": census},
    )
    error = refusal(lambda: rebuild_projection(operations, "cases", None))
    assert error.kind is ErrorKind.NOT_FOUND
    assert "census" in error.message_en
    assert calls == []


def test_every_ops_method_runs_without_a_tenant() -> None:
    assert set(TENANTLESS_METHODS) == {
        "/shequ.ops.v1.OpsService/OutboxStatus",
        "/shequ.ops.v1.OpsService/ReplayOutbox",
        "/shequ.ops.v1.OpsService/ConsumerStatus",
        "/shequ.ops.v1.OpsService/RebuildProjection",
        "/shequ.ops.v1.OpsService/ListAuditEntries",
    }
