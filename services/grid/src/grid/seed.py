"""Demo layouts for `make run`: every demo community with census data gets grids and
micro-grids planned from its census projection (Shibei as DOMAIN.md says: 13 grids, 45
micro-grids; the others in proportion to their households), and demo members: a grid leader and
a grid worker per grid, a leader per micro-grid. Two of them can log in: the demo user
``hushan-grid`` is Hushan's first grid worker, and ``shibei-grid`` leads Shibei's micro-grid 1 of
grid 1, so a case reported at one of its buildings is dispatched to someone who can act on it.
Idempotent: a community that has grids is left alone.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid import plans
from grid.app import GridCore
from grid.census_sync import Rebuilt, rebuild_tenant
from grid.members import add_member
from grid.models import CensusBuilding, Grid, MicroGrid
from shequ.grid.v1 import grid_pb2 as pb
from shequ_kit.audit import Actor, acting_as
from shequ_kit.tenancy import TenantId, tenant_scope

# (grids, micro-grids) per demo community; Shibei's from the seeds, the rest ∝ households.
DEMO_LAYOUTS: Final[dict[str, tuple[int, int]]] = {
    "xiaoshan.beigan.shibei": (13, 45),
    "xiaoshan.shushan.hushan": (7, 25),
    "xiaoshan.shushan.xiangyuan": (8, 27),
    "xiaoshan.shushan.xiushui": (3, 9),
    "xiaoshan.shushan.guangning": (3, 9),
    "xiaoshan.shushan.shanshuiyuan": (3, 9),
}
# The Keycloak subjects of the demo grid accounts (fixed in deploy/local/realm-shequ.json).
HUSHAN_GRID_SUBJECT: Final = "5e0c1a2b-9f3d-4c6e-8a71-2b4d6f8e0a13"
HUSHAN_GRID_ACCOUNT: Final = ("xiaoshan.shushan.hushan", HUSHAN_GRID_SUBJECT, "hushan-grid")
SHIBEI_GRID_SUBJECT: Final = "7a3f2c1d-4b5e-4f60-9a81-3c5d7e9f1b24"
SHIBEI_GRID_ACCOUNT: Final = ("xiaoshan.beigan.shibei", SHIBEI_GRID_SUBJECT, "shibei-grid")
SEEDED_BY: Final = "synthetic-demo"
SURNAMES: Final = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN: Final = ("建国", "秀英", "志强", "丽华", "海燕", "伟民", "桂芳", "文斌", "春梅", "国平")


def demo_name(index: int) -> str:
    return SURNAMES[index % len(SURNAMES)] + GIVEN[(index // len(SURNAMES)) % len(GIVEN)]


def rebuild_projection(core: GridCore, tenant: TenantId) -> Rebuilt:
    with tenant_scope(tenant), core.sessions.begin() as session:
        return rebuild_tenant(session, core.census(), tenant)


def seed_demo_layout(core: GridCore, tenant_id: str, grids: int, micro_grids: int) -> str:
    tenant = TenantId(tenant_id)
    # The plan applied and the members appointed are in the audit log as the seed's doing.
    with tenant_scope(tenant), acting_as(Actor(SEEDED_BY, SEEDED_BY)):
        with core.sessions() as session:
            if session.scalar(select(func.count()).select_from(Grid)):
                return "has grids already, left alone"
        rebuild_projection(core, tenant)
        with core.sessions.begin() as session:
            buildings = session.scalar(select(func.count()).select_from(CensusBuilding)) or 0
            if buildings < micro_grids:
                return f"{buildings} buildings in the census, too few for a layout; skipped"
            proposal = plans.propose(
                session,
                tenant,
                grids=grids,
                micro_grids=micro_grids,
                mode=pb.LAYOUT_MODE_FRESH,
                stability=0.0,
                created_by=SEEDED_BY,
            )
            applied = plans.apply(session, tenant, str(proposal.id))
            _demo_members(session, tenant, applied.grids)
            balance = plans.as_proto(applied.proposal).micro_grid_balance.max_over_mean
            return (
                f"{len(applied.grids)} grids, {len(applied.micro_grids)} micro-grids "
                f"(max/mean {balance:.2f})"
            )


def _demo_members(session: Session, tenant: TenantId, grids: list[Grid]) -> None:
    person = 0
    for grid in grids:
        for role in (pb.MEMBER_ROLE_GRID_LEADER, pb.MEMBER_ROLE_GRID_WORKER):
            linked = (
                role == pb.MEMBER_ROLE_GRID_WORKER
                and grid.number == 1
                and tenant.value == HUSHAN_GRID_ACCOUNT[0]
            )
            add_member(
                session,
                tenant,
                pb.MemberInput(
                    grid_id=str(grid.id),
                    role=role,
                    name=demo_name(person),
                    phone=f"1380000{person:04d}",
                    account_subject=HUSHAN_GRID_ACCOUNT[1] if linked else "",
                    account_username=HUSHAN_GRID_ACCOUNT[2] if linked else "",
                ),
            )
            person += 1
        for micro in session.scalars(
            select(MicroGrid).where(MicroGrid.grid_id == grid.id).order_by(MicroGrid.number)
        ):
            leads = (
                grid.number == 1 and micro.number == 1 and tenant.value == SHIBEI_GRID_ACCOUNT[0]
            )
            add_member(
                session,
                tenant,
                pb.MemberInput(
                    grid_id=str(grid.id),
                    micro_grid_id=str(micro.id),
                    role=pb.MEMBER_ROLE_MICRO_GRID_LEADER,
                    name=demo_name(person),
                    phone=f"1390000{person:04d}",
                    account_subject=SHIBEI_GRID_ACCOUNT[1] if leads else "",
                    account_username=SHIBEI_GRID_ACCOUNT[2] if leads else "",
                ),
            )
            person += 1


def seed_demo_layouts(core: GridCore) -> dict[str, str]:
    return {
        tenant_id: seed_demo_layout(core, tenant_id, grids, micro_grids)
        for tenant_id, (grids, micro_grids) in DEMO_LAYOUTS.items()
    }
