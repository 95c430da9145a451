"""Demo tenants for `make run` and the tests (DOMAIN.md): Xiaoshan district, Shushan street
with five active and six preparing communities, and Shibei under a second street.

Idempotent: nodes that exist are left as they are. Active communities seeded here are recorded
as onboarded (with their event), exactly as if a street admin had onboarded them. Statistical
division codes below the district are not in the seeds, so they are left empty rather than
invented; street admins fill them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from gateway.directory import KeycloakDirectory
from gateway.tenants.models import TenantKind, TenantNode, TenantStatus
from gateway.tenants.service import ROLES_BY_KIND, onboarded_event
from shequ_kit.outbox import publish
from shequ_kit.tenancy import TenantId

A, P = TenantStatus.ACTIVE, TenantStatus.PREPARING


@dataclass(frozen=True)
class DemoNode:
    tenant_id: str
    kind: TenantKind
    name_zh: str
    name_en: str
    status: TenantStatus = A
    division_code: str | None = None
    division_code_year: int | None = None


def _community(street: str, slug: str, zh: str, en: str, status: TenantStatus) -> DemoNode:
    return DemoNode(f"xiaoshan.{street}.{slug}", TenantKind.COMMUNITY, zh, en, status)


DEMO_TENANTS: tuple[DemoNode, ...] = (
    DemoNode("xiaoshan", TenantKind.DISTRICT, "萧山区", "Xiaoshan District", A, "330109", 2023),
    DemoNode("xiaoshan.shushan", TenantKind.STREET, "蜀山街道", "Shushan Street"),
    _community("shushan", "hushan", "湖山社区", "Hushan", A),
    _community("shushan", "xiangyuan", "湘源社区", "Xiangyuan", A),
    _community("shushan", "xiushui", "秀水社区", "Xiushui", A),
    _community("shushan", "guangning", "广宁社区", "Guangning", A),
    _community("shushan", "shanshuiyuan", "山水苑社区", "Shanshuiyuan", A),
    _community("shushan", "junle", "郡乐社区", "Junle", P),
    _community("shushan", "chenxing", "晨星社区", "Chenxing", P),
    _community("shushan", "pinwen", "品文社区", "Pinwen", P),
    _community("shushan", "yuezhang", "越章社区", "Yuezhang", P),
    _community("shushan", "jingyuan", "景源社区", "Jingyuan", P),
    _community("shushan", "chaowen", "朝闻社区", "Chaowen", P),
    DemoNode("xiaoshan.beigan", TenantKind.STREET, "北干街道", "Beigan Street"),
    _community("beigan", "shibei", "市北社区", "Shibei", A),
)


def seed_demo_tenants(
    sessions: sessionmaker[Session], directory: KeycloakDirectory, *, topic: str
) -> int:
    """Insert the demo tree where missing; returns how many nodes were added."""
    added = 0
    for demo in DEMO_TENANTS:
        if demo.status is TenantStatus.ACTIVE:
            directory.ensure_tenant_groups(TenantId(demo.tenant_id), ROLES_BY_KIND[demo.kind])
        with sessions.begin() as session:
            if session.get(TenantNode, demo.tenant_id) is not None:
                continue
            parent = TenantId(demo.tenant_id).parent
            node = TenantNode(
                tenant_id=demo.tenant_id,
                parent_id=parent.value if parent else None,
                kind=demo.kind,
                name_zh=demo.name_zh,
                name_en=demo.name_en,
                status=demo.status,
                division_code=demo.division_code,
                division_code_year=demo.division_code_year,
                onboarded_at=datetime.now(UTC) if demo.status is TenantStatus.ACTIVE else None,
            )
            session.add(node)
            session.flush()
            if demo.kind is TenantKind.COMMUNITY and demo.status is TenantStatus.ACTIVE:
                publish(session, onboarded_event(node, topic))
            added += 1
    return added
