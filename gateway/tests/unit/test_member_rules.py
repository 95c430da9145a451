from datetime import UTC, datetime

import pytest

from gateway.members.service import may_grant
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, Role, grants_from_groups

HUSHAN = TenantId("xiaoshan.shushan.hushan")


def principal(*groups: str) -> Principal:
    return Principal(
        subject="s",
        username="u",
        grants=grants_from_groups(groups),
        token="t",
        expires_at=datetime.now(UTC),
    )


@pytest.mark.parametrize("role", list(Role))
def test_a_street_admin_may_grant_every_role_in_the_street(role: Role) -> None:
    assert may_grant(principal("/xiaoshan/shushan/street-admin"), HUSHAN, role)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.GRID_WORKER, True),
        (Role.RESIDENT, True),
        (Role.COMMUNITY_STAFF, False),
        (Role.PII_READER, False),
        (Role.STREET_ADMIN, False),
    ],
)
def test_community_staff_may_add_grid_workers_and_residents_only(role: Role, allowed: bool) -> None:
    staff = principal("/xiaoshan/shushan/hushan/community-staff")
    assert may_grant(staff, HUSHAN, role) is allowed


def test_nobody_grants_outside_their_subtree() -> None:
    shibei = TenantId("xiaoshan.beigan.shibei")
    assert not may_grant(principal("/xiaoshan/shushan/street-admin"), shibei, Role.RESIDENT)
    assert not may_grant(
        principal("/xiaoshan/shushan/hushan/community-staff"),
        TenantId("xiaoshan.shushan.xiangyuan"),
        Role.RESIDENT,
    )
    assert may_grant(principal("/platform-admin"), shibei, Role.COMMUNITY_STAFF)
