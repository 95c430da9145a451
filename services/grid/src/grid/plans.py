"""Layout proposals: the planner (``grid.planner``) run on the projection's buildings and the
layout in force, stored for staff to review, and applied in one transaction that emits events.

A proposal remembers the community's ``layout_version`` it was planned against; if any layout
write happened since, applying it is refused (it would silently undo that write) and it is
marked stale.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from grid.common import emit, parse_uuid
from grid.layout import changed, grid_facts, lock_community, micro_grid_facts
from grid.models import CensusBuilding, Coverage, Grid, Member, MicroGrid
from grid.models import Proposal as ProposalRow
from grid.planner import Balance as PlannedBalance
from grid.planner import (
    Building,
    CurrentLayout,
    Mode,
    PlanRequest,
    plan_layout,
)
from grid.planner import Proposal as Planned
from grid.planner.model import DEFAULT_STABILITY
from grid.workload import per_building
from shequ.grid.v1 import events_pb2
from shequ.grid.v1 import grid_pb2 as pb
from shequ_kit import audit
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, not_found
from shequ_kit.outbox import tenant_ref
from shequ_kit.tenancy import TenantId

MODES = {pb.LAYOUT_MODE_FRESH: Mode.FRESH, pb.LAYOUT_MODE_REBALANCE: Mode.REBALANCE}
STATES = {
    "open": pb.PROPOSAL_STATE_OPEN,
    "applied": pb.PROPOSAL_STATE_APPLIED,
    "stale": pb.PROPOSAL_STATE_STALE,
}


def _balance(b: PlannedBalance | None) -> pb.Balance | None:
    if b is None:
        return None
    return pb.Balance(
        count=b.count,
        mean=b.mean,
        minimum=b.minimum,
        maximum=b.maximum,
        max_over_mean=b.max_over_mean,
        coefficient_of_variation=b.coefficient_of_variation,
    )


def current_layout(session: Session, known: set[uuid.UUID]) -> CurrentLayout | None:
    grids = {str(m.id): str(m.grid_id) for m in session.scalars(select(MicroGrid))}
    if not grids:
        return None
    return CurrentLayout(
        micro_grid_of_building={
            str(c.building_id): str(c.micro_grid_id)
            for c in session.scalars(select(Coverage))
            if c.building_id in known  # a building census removed is no longer planned
        },
        grid_of_micro_grid=grids,
    )


def to_proto(planned: Planned, community_code: str) -> pb.Proposal:
    grid_numbers = {g.key: g.number for g in planned.grids}
    return pb.Proposal(
        proposed_grids=[
            pb.ProposedGrid(
                key=g.key,
                continues_current=g.current_id is not None,
                number=g.number,
                code=f"{community_code}{g.number:03d}",
                micro_grid_keys=list(g.micro_grid_keys),
                workload=g.workload,
                contiguous=g.contiguous,
            )
            for g in planned.grids
        ],
        proposed_micro_grids=[
            pb.ProposedMicroGrid(
                key=m.key,
                continues_current=m.current_id is not None,
                grid_key=m.grid_key,
                number=m.number,
                code=f"{community_code}{grid_numbers[m.grid_key]:03d}{m.number:02d}",
                building_ids=list(m.building_ids),
                workload=m.workload,
                pieces=len(m.pieces),
            )
            for m in planned.micro_grids
        ],
        micro_grid_balance=_balance(planned.micro_grid_balance),
        grid_balance=_balance(planned.grid_balance),
        current_micro_grid_balance=_balance(planned.current_micro_grid_balance),
        current_grid_balance=_balance(planned.current_grid_balance),
        diff=pb.LayoutDiff(
            building_moves=[
                pb.BuildingMove(
                    building_id=m.building_id,
                    from_micro_grid=m.from_micro_grid or "",
                    to_micro_grid=m.to_micro_grid,
                )
                for m in planned.diff.building_moves
            ],
            micro_grid_moves=[
                pb.MicroGridMove(
                    micro_grid_key=m.micro_grid_key, from_grid=m.from_grid, to_grid=m.to_grid
                )
                for m in planned.diff.micro_grid_moves
            ],
            micro_grids_created=list(planned.diff.micro_grids_created),
            micro_grids_removed=list(planned.diff.micro_grids_removed),
            grids_created=list(planned.diff.grids_created),
            grids_removed=list(planned.diff.grids_removed),
            changed_buildings=planned.diff.changed_buildings,
            placed_buildings=planned.diff.placed_buildings,
            changed_assignments=planned.diff.changed_assignments,
        ),
        separate_areas=planned.contiguity.separate_areas,
        non_contiguous_micro_grids=list(planned.contiguity.non_contiguous_micro_grids),
        non_contiguous_grids=list(planned.contiguity.non_contiguous_grids),
    )


def _timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def as_proto(row: ProposalRow) -> pb.Proposal:
    proposal = pb.Proposal()
    proposal.ParseFromString(row.body)
    proposal.id = str(row.id)
    proposal.tenant_id = row.tenant_id
    proposal.state = STATES[row.state]
    proposal.created_by = row.created_by
    if (created := _timestamp(row.created_at)) is not None:
        proposal.created_at.CopyFrom(created)
    if (applied := _timestamp(row.applied_at)) is not None:
        proposal.applied_at.CopyFrom(applied)
    return proposal


def propose(
    session: Session,
    tenant: TenantId,
    *,
    grids: int,
    micro_grids: int,
    mode: pb.LayoutMode.ValueType,
    stability: float,
    created_by: str,
) -> ProposalRow:
    if mode not in MODES:
        raise invalid_input(
            "grid.mode_invalid",
            "请选择重新划分（fresh）或在现有基础上调整（rebalance）",
            "mode must be fresh or rebalance",
            FieldViolation("mode", "fresh or rebalance"),
        )
    community = lock_community(session, tenant)
    figures = per_building(session)
    buildings = session.scalars(select(CensusBuilding)).all()
    if not buildings:
        raise DomainError(
            "grid.no_buildings",
            "本社区还没有楼幢数据，无法规划网格",
            "the community has no buildings in the census yet",
            ErrorKind.CONFLICT,
        )
    known = {b.building_id for b in buildings}
    request = PlanRequest(
        buildings=[
            Building(
                id=str(b.building_id),
                complex_id=str(b.complex_id),
                # A building nobody lives in still needs walking past: a small floor of work.
                workload=max(figures[(b.tenant_id, b.building_id)].weighted, 0.1)
                if (b.tenant_id, b.building_id) in figures
                else 0.1,
                number=b.number,
            )
            for b in buildings
        ],
        grids=grids,
        micro_grids=micro_grids,
        current=current_layout(session, known),
        mode=MODES[mode],
        stability=stability or DEFAULT_STABILITY,
    )
    planned = plan_layout(request)  # DomainError naming the field when it cannot
    body = to_proto(planned, community.division_code)
    body.mode, body.grids, body.micro_grids = mode, grids, micro_grids
    body.stability = request.stability
    row = ProposalRow(
        base_layout_version=community.layout_version,
        state="open",
        body=body.SerializeToString(),
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def get_proposal(session: Session, proposal_id: str, *, for_update: bool = False) -> ProposalRow:
    query = select(ProposalRow).where(ProposalRow.id == parse_uuid(proposal_id, "proposal_id"))
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise not_found("grid.proposal_not_found", "未找到该网格方案", f"no proposal {proposal_id}")
    return row


@dataclass(frozen=True)
class Applied:
    proposal: ProposalRow
    grids: list[Grid]
    micro_grids: list[MicroGrid]
    community_code: str


def _apply_grids(
    session: Session, tenant: TenantId, body: pb.Proposal, existing: dict[str, Grid], code: str
) -> dict[str, Grid]:
    grid_of_key: dict[str, Grid] = {}
    for proposed in body.proposed_grids:
        grid = existing.get(proposed.key)
        if grid is None:
            grid = Grid(number=proposed.number, name=f"第{proposed.number}网格")
            session.add(grid)
            session.flush()
            payload: Message = events_pb2.GridCreated(
                tenant=tenant_ref(tenant), grid=grid_facts(grid, code)
            )
        else:
            grid.number, grid.version = proposed.number, grid.version + 1
            payload = events_pb2.GridUpdated(tenant=tenant_ref(tenant), grid=grid_facts(grid, code))
        emit(session, tenant, grid.id, payload)
        grid_of_key[proposed.key] = grid
    session.flush()
    return grid_of_key


def _apply_micro_grids(
    session: Session,
    tenant: TenantId,
    *,
    body: pb.Proposal,
    existing: dict[str, MicroGrid],
    grid_of_key: dict[str, Grid],
    code: str,
) -> dict[str, MicroGrid]:
    micro_of_key: dict[str, MicroGrid] = {}
    for proposed in body.proposed_micro_grids:
        grid = grid_of_key[proposed.grid_key]
        micro = existing.get(proposed.key)
        if micro is None:
            micro = MicroGrid(
                grid_id=grid.id,
                number=proposed.number,
                name=f"第{grid.number}-{proposed.number}微网格",
            )
            session.add(micro)
            session.flush()
            payload: Message = events_pb2.MicroGridCreated(
                tenant=tenant_ref(tenant), micro_grid=micro_grid_facts(micro, grid, code)
            )
        else:
            micro.grid_id, micro.number = grid.id, proposed.number
            micro.version += 1
            payload = events_pb2.MicroGridUpdated(
                tenant=tenant_ref(tenant), micro_grid=micro_grid_facts(micro, grid, code)
            )
        emit(session, tenant, micro.id, payload)
        micro_of_key[proposed.key] = micro
    session.flush()
    return micro_of_key


def _apply_coverage(
    session: Session, tenant: TenantId, body: pb.Proposal, micro_of_key: dict[str, MicroGrid]
) -> None:
    before = {c.building_id: c.micro_grid_id for c in session.scalars(select(Coverage))}
    session.execute(delete(Coverage).where(Coverage.tenant_id == tenant.value))
    for proposed in body.proposed_micro_grids:
        micro = micro_of_key[proposed.key]
        for building in proposed.building_ids:
            building_id = uuid.UUID(building)
            session.add(
                Coverage(tenant_id=tenant.value, building_id=building_id, micro_grid_id=micro.id)
            )
            if before.get(building_id) != micro.id:
                emit(
                    session,
                    tenant,
                    building_id,
                    events_pb2.CoverageChanged(
                        tenant=tenant_ref(tenant),
                        building_id=building,
                        micro_grid_id=str(micro.id),
                        grid_id=str(micro.grid_id),
                        from_micro_grid_id=str(before.get(building_id) or ""),
                    ),
                )
    session.flush()


def _remove_dropped(
    session: Session,
    tenant: TenantId,
    micro_grids: list[MicroGrid],
    grids: list[Grid],
) -> None:
    """Micro-grids and grids the new layout no longer has. Members of a dropped micro-grid stay
    in its grid; members of a dropped grid go with it (staff appoint anew)."""
    for micro in micro_grids:
        for member in session.scalars(select(Member).where(Member.micro_grid_id == micro.id)):
            member.micro_grid_id, member.version = None, member.version + 1
        session.flush()
        session.delete(micro)
        emit(
            session,
            tenant,
            micro.id,
            events_pb2.MicroGridRemoved(
                tenant=tenant_ref(tenant), micro_grid_id=str(micro.id), grid_id=str(micro.grid_id)
            ),
        )
    session.flush()
    for grid in grids:
        for member in session.scalars(select(Member).where(Member.grid_id == grid.id)):
            session.delete(member)
            emit(
                session,
                tenant,
                member.id,
                events_pb2.MemberRemoved(
                    tenant=tenant_ref(tenant), member_id=str(member.id), grid_id=str(grid.id)
                ),
            )
        session.flush()
        session.delete(grid)
        emit(
            session,
            tenant,
            grid.id,
            events_pb2.GridRemoved(tenant=tenant_ref(tenant), grid_id=str(grid.id)),
        )


def apply(session: Session, tenant: TenantId, proposal_id: str) -> Applied:
    community = lock_community(session, tenant)
    row = get_proposal(session, proposal_id, for_update=True)
    if row.state != "open" or row.base_layout_version != community.layout_version:
        raise DomainError(
            "grid.proposal_stale",
            "网格布局在方案生成后已有变动（或方案已应用），请重新生成方案",
            "the layout changed since this proposal was made (or it was applied); propose again",
            ErrorKind.CONFLICT,
            (FieldViolation("proposal_id", "stale"),),
            params={"state": row.state},
        )
    body = as_proto(row)
    code = community.division_code
    existing_grids = {str(g.id): g for g in session.scalars(select(Grid))}
    existing_micro = {str(m.id): m for m in session.scalars(select(MicroGrid))}
    # Numbers are unique: move every kept one out of the way before handing out new numbers.
    for offset, grid in enumerate(existing_grids.values(), start=1):
        grid.number = -offset
    for offset, micro in enumerate(existing_micro.values(), start=1):
        micro.number = -offset
    session.flush()
    grid_of_key = _apply_grids(session, tenant, body, existing_grids, code)
    micro_of_key = _apply_micro_grids(
        session, tenant, body=body, existing=existing_micro, grid_of_key=grid_of_key, code=code
    )
    _apply_coverage(session, tenant, body, micro_of_key)
    kept_micro = {m.id for m in micro_of_key.values()}
    kept_grids = {g.id for g in grid_of_key.values()}
    _remove_dropped(
        session,
        tenant,
        [m for m in existing_micro.values() if m.id not in kept_micro],
        [g for g in existing_grids.values() if g.id not in kept_grids],
    )
    changed(community)
    row.state, row.applied_at = "applied", datetime.now(UTC)
    session.flush()
    emit(
        session,
        tenant,
        row.id,
        events_pb2.LayoutApplied(
            tenant=tenant_ref(tenant),
            proposal_id=str(row.id),
            grids=len(grid_of_key),
            micro_grids=len(micro_of_key),
            changed_assignments=body.diff.changed_assignments,
        ),
    )
    moves = body.diff.changed_assignments
    audit.record(
        session,
        "grid_plan.applied",
        target_kind="grid_plan",
        target_id=row.id,
        summary=f"应用网格方案：{len(grid_of_key)} 个网格、{len(micro_of_key)} 个微网格，"
        f"{moves} 个楼幢调整归属",
        summary_en=f"applied a grid plan: {len(grid_of_key)} grids, {len(micro_of_key)} "
        f"micro-grids, {moves} buildings moved",
        detail={
            "grids": len(grid_of_key),
            "micro_grids": len(micro_of_key),
            "moves": moves,
            "grids_removed": len(existing_grids) - len(kept_grids),
            "micro_grids_removed": len(existing_micro) - len(kept_micro),
        },
    )
    return Applied(
        proposal=row,
        grids=sorted(grid_of_key.values(), key=lambda g: g.number),
        micro_grids=list(micro_of_key.values()),
        community_code=code,
    )
