"""Grids, micro-grids and which buildings each micro-grid covers, with their standard codes.

Codes (ARCHITECTURE.md): the community's 12-digit division code + 3-digit grid number
(+ 2-digit micro-grid number). The gateway's registry has no division codes below the district
in the demo data; then the community's code is a stable placeholder, "99" + 10 digits of a hash
of the tenant id ("99" is no province, so it cannot be mistaken for a real code), until staff
give the real one with CreateGrid.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from grid.common import check_version, checked_mask, emit, parse_uuid, required_text
from grid.models import CensusBuilding, Community, Coverage, Grid, Member, MicroGrid
from shequ.grid.v1 import events_pb2
from shequ_kit.checks import flush_unique
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, not_found
from shequ_kit.outbox import tenant_ref
from shequ_kit.paging import Page, sort_key
from shequ_kit.tenancy import TenantId

MAX_GRID_NUMBER: Final = 999
MAX_MICRO_GRID_NUMBER: Final = 99
GRID_UPDATABLE: Final = frozenset({"name", "number", "boundary_geojson"})
MICRO_GRID_UPDATABLE: Final = frozenset({"name", "number", "boundary_geojson", "grid_id"})
MAX_BUILDINGS_PER_CALL: Final = 1000


def placeholder_code(tenant: TenantId) -> str:
    digest = int(hashlib.sha256(tenant.value.encode()).hexdigest(), 16)
    return f"99{digest % 10**10:010d}"


def _division_code(value: str) -> str:
    if len(value) != 12 or not value.isdigit():
        raise invalid_input(
            "grid.division_code_invalid",
            "社区区划代码应为12位数字",
            "division_code must be the community's 12-digit statistical division code",
            FieldViolation("division_code", "12 digits"),
        )
    return value


def lock_community(session: Session, tenant: TenantId, division_code: str = "") -> Community:
    """The community row, locked until the transaction ends (created on first use), so layout
    writes of one community queue up; a given division code replaces a placeholder."""
    code = _division_code(division_code) if division_code else ""
    community = session.scalar(select(Community).with_for_update())
    if community is None:
        community = Community(
            tenant_id=tenant.value,
            division_code=code or placeholder_code(tenant),
            code_placeholder=not code,
            layout_version=0,
        )
        session.add(community)
        session.flush()
        community = session.scalar(select(Community).with_for_update())
        assert community is not None
    elif code and community.division_code != code:
        community.division_code, community.code_placeholder = code, False
    return community


def changed(community: Community) -> None:
    """The layout changed: proposals planned against the old one may no longer be applied."""
    community.layout_version += 1


def community_code(session: Session, tenant: TenantId) -> str:
    community = session.scalar(select(Community).where(Community.tenant_id == tenant.value))
    return community.division_code if community else placeholder_code(tenant)


def grid_code(community: str, grid: Grid) -> str:
    return f"{community}{grid.number:03d}"


def micro_grid_code(community: str, grid: Grid, micro_grid: MicroGrid) -> str:
    return f"{community}{grid.number:03d}{micro_grid.number:02d}"


def _boundary(value: str, field: str = "boundary_geojson") -> str | None:
    """A GeoJSON Polygon or MultiPolygon geometry, or nothing."""
    if not value.strip():
        return None
    try:
        geometry = json.loads(value)
    except ValueError as error:
        raise invalid_input(
            "grid.boundary_invalid",
            "边界须为 GeoJSON 多边形",
            f"{field} is not JSON",
            FieldViolation(field, "a GeoJSON Polygon or MultiPolygon"),
        ) from error
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise invalid_input(
            "grid.boundary_invalid",
            "边界须为 GeoJSON 多边形",
            f"{field} must be a GeoJSON Polygon or MultiPolygon geometry",
            FieldViolation(field, "a GeoJSON Polygon or MultiPolygon"),
        )
    if not isinstance(geometry.get("coordinates"), list):
        raise invalid_input(
            "grid.boundary_invalid",
            "边界缺少坐标",
            f"{field} has no coordinates",
            FieldViolation(field, "coordinates required"),
        )
    return json.dumps(geometry, ensure_ascii=False)


def _number(value: int, maximum: int, field: str, label_zh: str) -> int:
    if not 1 <= value <= maximum:
        raise invalid_input(
            "grid.number_invalid",
            f"{label_zh}应在1到{maximum}之间",
            f"{field} must be between 1 and {maximum}",
            FieldViolation(field, f"1 to {maximum}"),
        )
    return value


def grid_facts(grid: Grid, community: str) -> events_pb2.GridFacts:
    return events_pb2.GridFacts(
        grid_id=str(grid.id),
        number=grid.number,
        code=grid_code(community, grid),
        name=grid.name,
        version=grid.version,
    )


def micro_grid_facts(micro: MicroGrid, grid: Grid, community: str) -> events_pb2.MicroGridFacts:
    return events_pb2.MicroGridFacts(
        micro_grid_id=str(micro.id),
        grid_id=str(grid.id),
        number=micro.number,
        code=micro_grid_code(community, grid, micro),
        name=micro.name,
        version=micro.version,
    )


# ---- grids ----


def _grid_number_taken(number: int) -> DomainError:
    return DomainError(
        "grid.number_taken",
        f"网格编号 {number:03d} 已被使用",
        f"grid number {number} is taken",
        ErrorKind.ALREADY_EXISTS,
        (FieldViolation("number", "taken"),),
    )


def create_grid(
    session: Session,
    tenant: TenantId,
    *,
    name: str,
    number: int,
    boundary_geojson: str,
    division_code: str,
) -> tuple[Grid, str]:
    community = lock_community(session, tenant, division_code)
    if number == 0:
        number = (session.scalar(select(func.max(Grid.number))) or 0) + 1
    grid = Grid(
        number=_number(number, MAX_GRID_NUMBER, "number", "网格编号"),
        name=required_text(name, "name", "网格名称", 100),
        boundary_geojson=_boundary(boundary_geojson),
    )
    session.add(grid)
    flush_unique(session, _grid_number_taken(grid.number))
    changed(community)
    emit(
        session,
        tenant,
        grid.id,
        events_pb2.GridCreated(
            tenant=tenant_ref(tenant), grid=grid_facts(grid, community.division_code)
        ),
    )
    return grid, community.division_code


def get_grid(
    session: Session, grid_id: str, field: str = "grid_id", *, for_update: bool = False
) -> Grid:
    query = select(Grid).where(Grid.id == parse_uuid(grid_id, field))
    grid = session.scalar(query.with_for_update() if for_update else query)
    if grid is None:
        raise not_found("grid.grid_not_found", "未找到该网格", f"no grid {grid_id}")
    return grid


def list_grids(session: Session, page: Page) -> Sequence[Grid]:
    query = select(Grid).order_by(Grid.tenant_id, Grid.number).limit(page.size + 1)
    if (after := sort_key(page, str, int)) is not None:
        query = query.where(tuple_(Grid.tenant_id, Grid.number) > after)
    return session.scalars(query).all()


@dataclass(frozen=True)
class Counts:
    micro_grids: dict[uuid.UUID, int]
    buildings_of_grid: dict[uuid.UUID, int]
    buildings_of_micro_grid: dict[uuid.UUID, int]


def counts(session: Session) -> Counts:
    micro = dict(
        session.execute(select(MicroGrid.grid_id, func.count()).group_by(MicroGrid.grid_id)).all()
    )
    per_micro = dict(
        session.execute(
            select(Coverage.micro_grid_id, func.count()).group_by(Coverage.micro_grid_id)
        ).all()
    )
    per_grid: dict[uuid.UUID, int] = {}
    for micro_id, grid_id in session.execute(select(MicroGrid.id, MicroGrid.grid_id)):
        per_grid[grid_id] = per_grid.get(grid_id, 0) + per_micro.get(micro_id, 0)
    return Counts(micro, per_grid, per_micro)


def update_grid(
    session: Session,
    tenant: TenantId,
    *,
    grid_id: str,
    name: str,
    number: int,
    boundary_geojson: str,
    paths: Sequence[str],
    expected_version: int,
) -> tuple[Grid, str]:
    mask = checked_mask(paths, GRID_UPDATABLE)
    community = lock_community(session, tenant)
    grid = get_grid(session, grid_id, for_update=True)
    check_version(grid, expected_version)
    if "name" in mask:
        grid.name = required_text(name, "name", "网格名称", 100)
    if "number" in mask:
        grid.number = _number(number, MAX_GRID_NUMBER, "number", "网格编号")
    if "boundary_geojson" in mask:
        grid.boundary_geojson = _boundary(boundary_geojson)
    grid.version += 1
    flush_unique(session, _grid_number_taken(grid.number))
    if "number" in mask:
        changed(community)
    emit(
        session,
        tenant,
        grid.id,
        events_pb2.GridUpdated(
            tenant=tenant_ref(tenant), grid=grid_facts(grid, community.division_code)
        ),
    )
    return grid, community.division_code


def remove_grid(session: Session, tenant: TenantId, *, grid_id: str, expected_version: int) -> None:
    """Only an empty grid: its micro-grids are removed or moved first (their buildings and
    members must go somewhere deliberate, not vanish)."""
    community = lock_community(session, tenant)
    grid = get_grid(session, grid_id, for_update=True)
    check_version(grid, expected_version)
    micro = session.scalar(select(func.count()).where(MicroGrid.grid_id == grid.id)) or 0
    if micro:
        raise DomainError(
            "grid.grid_not_empty",
            f"网格“{grid.name}”下还有 {micro} 个微网格，请先删除或移走",
            f"grid {grid.name!r} still has {micro} micro-grids; remove or move them first",
            ErrorKind.CONFLICT,
            params={"micro_grids": str(micro)},
        )
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
    session.delete(grid)
    changed(community)
    emit(
        session,
        tenant,
        grid.id,
        events_pb2.GridRemoved(tenant=tenant_ref(tenant), grid_id=str(grid.id)),
    )


# ---- micro-grids ----


def _micro_number_taken(grid: Grid, number: int) -> DomainError:
    return DomainError(
        "grid.micro_grid_number_taken",
        f"网格“{grid.name}”中微网格编号 {number:02d} 已被使用",
        f"micro-grid number {number} is taken in grid {grid.name!r}",
        ErrorKind.ALREADY_EXISTS,
        (FieldViolation("number", "taken"),),
    )


def create_micro_grid(
    session: Session,
    tenant: TenantId,
    *,
    grid_id: str,
    name: str,
    number: int,
    boundary_geojson: str,
) -> tuple[MicroGrid, Grid, str]:
    community = lock_community(session, tenant)
    grid = get_grid(session, grid_id)
    if number == 0:
        number = (
            session.scalar(select(func.max(MicroGrid.number)).where(MicroGrid.grid_id == grid.id))
            or 0
        ) + 1
    micro = MicroGrid(
        grid_id=grid.id,
        number=_number(number, MAX_MICRO_GRID_NUMBER, "number", "微网格编号"),
        name=required_text(name, "name", "微网格名称", 100),
        boundary_geojson=_boundary(boundary_geojson),
    )
    session.add(micro)
    flush_unique(session, _micro_number_taken(grid, micro.number))
    changed(community)
    emit(
        session,
        tenant,
        micro.id,
        events_pb2.MicroGridCreated(
            tenant=tenant_ref(tenant),
            micro_grid=micro_grid_facts(micro, grid, community.division_code),
        ),
    )
    return micro, grid, community.division_code


def get_micro_grid(
    session: Session, micro_grid_id: str, field: str = "micro_grid_id", *, for_update: bool = False
) -> MicroGrid:
    query = select(MicroGrid).where(MicroGrid.id == parse_uuid(micro_grid_id, field))
    micro = session.scalar(query.with_for_update() if for_update else query)
    if micro is None:
        raise not_found(
            "grid.micro_grid_not_found", "未找到该微网格", f"no micro-grid {micro_grid_id}"
        )
    return micro


def list_micro_grids(
    session: Session, grid_id: str, page: Page
) -> Sequence[tuple[MicroGrid, Grid]]:
    query = (
        select(MicroGrid, Grid)
        .join(Grid, Grid.id == MicroGrid.grid_id)
        .order_by(Grid.number, MicroGrid.number)
    )
    if grid_id:
        query = query.where(MicroGrid.grid_id == get_grid(session, grid_id).id)
    if (after := sort_key(page, int, int)) is not None:
        query = query.where(tuple_(Grid.number, MicroGrid.number) > after)
    return [(m, g) for m, g in session.execute(query.limit(page.size + 1))]


def update_micro_grid(
    session: Session,
    tenant: TenantId,
    *,
    micro_grid_id: str,
    name: str,
    number: int,
    boundary_geojson: str,
    grid_id: str,
    paths: Sequence[str],
    expected_version: int,
) -> tuple[MicroGrid, Grid, str]:
    mask = checked_mask(paths, MICRO_GRID_UPDATABLE)
    community = lock_community(session, tenant)
    micro = get_micro_grid(session, micro_grid_id, for_update=True)
    check_version(micro, expected_version)
    if "grid_id" in mask:
        micro.grid_id = get_grid(session, grid_id).id
    if "name" in mask:
        micro.name = required_text(name, "name", "微网格名称", 100)
    if "number" in mask:
        micro.number = _number(number, MAX_MICRO_GRID_NUMBER, "number", "微网格编号")
    if "boundary_geojson" in mask:
        micro.boundary_geojson = _boundary(boundary_geojson)
    micro.version += 1
    grid = get_grid(session, str(micro.grid_id))
    flush_unique(session, _micro_number_taken(grid, micro.number))
    if mask & {"number", "grid_id"}:
        changed(community)
    emit(
        session,
        tenant,
        micro.id,
        events_pb2.MicroGridUpdated(
            tenant=tenant_ref(tenant),
            micro_grid=micro_grid_facts(micro, grid, community.division_code),
        ),
    )
    return micro, grid, community.division_code


def remove_micro_grid(
    session: Session, tenant: TenantId, *, micro_grid_id: str, expected_version: int
) -> None:
    """Only a micro-grid covering no building (they are assigned elsewhere first); its members
    stay in the grid."""
    community = lock_community(session, tenant)
    micro = get_micro_grid(session, micro_grid_id, for_update=True)
    check_version(micro, expected_version)
    covered = session.scalar(select(func.count()).where(Coverage.micro_grid_id == micro.id)) or 0
    if covered:
        raise DomainError(
            "grid.micro_grid_not_empty",
            f"微网格“{micro.name}”还覆盖 {covered} 幢楼，请先调整到其他微网格",
            f"micro-grid {micro.name!r} still covers {covered} buildings; reassign them first",
            ErrorKind.CONFLICT,
            params={"buildings": str(covered)},
        )
    for member in session.scalars(select(Member).where(Member.micro_grid_id == micro.id)):
        member.micro_grid_id = None
        member.version += 1
    session.flush()
    session.delete(micro)
    changed(community)
    emit(
        session,
        tenant,
        micro.id,
        events_pb2.MicroGridRemoved(
            tenant=tenant_ref(tenant), micro_grid_id=str(micro.id), grid_id=str(micro.grid_id)
        ),
    )


# ---- coverage ----


def _building_ids(values: Sequence[str]) -> list[uuid.UUID]:
    if not values or len(values) > MAX_BUILDINGS_PER_CALL:
        raise invalid_input(
            "grid.building_ids_invalid",
            f"请给出1到{MAX_BUILDINGS_PER_CALL}幢楼",
            f"building_ids must name 1 to {MAX_BUILDINGS_PER_CALL} buildings",
            FieldViolation("building_ids", f"1 to {MAX_BUILDINGS_PER_CALL}"),
        )
    ids = [parse_uuid(v, f"building_ids[{i}]") for i, v in enumerate(values)]
    return list(dict.fromkeys(ids))


def known_buildings(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CensusBuilding]:
    """Buildings of this community's census projection (another community's are unknown)."""
    return {
        b.building_id: b
        for b in session.scalars(select(CensusBuilding).where(CensusBuilding.building_id.in_(ids)))
    }


def assign_buildings(
    session: Session,
    tenant: TenantId,
    *,
    micro_grid_id: str,
    building_ids: Sequence[str],
    move: bool,
) -> list[tuple[Coverage, MicroGrid, CensusBuilding | None]]:
    ids = _building_ids(building_ids)
    community = lock_community(session, tenant)
    micro = get_micro_grid(session, micro_grid_id)
    known = known_buildings(session, ids)
    unknown = [i for i, b in enumerate(ids) if b not in known]
    if unknown:
        first = ids[unknown[0]]
        raise DomainError(
            "grid.building_not_found",
            f"本社区普查数据中没有楼幢 {first}",
            f"building {first} is not a building of this community's census",
            ErrorKind.NOT_FOUND,
            tuple(FieldViolation(f"building_ids[{i}]", "unknown building") for i in unknown),
        )
    current = {
        c.building_id: c
        for c in session.scalars(
            select(Coverage).where(Coverage.building_id.in_(ids)).with_for_update()
        )
    }
    elsewhere = [c for c in current.values() if c.micro_grid_id != micro.id]
    if elsewhere and not move:
        taken = elsewhere[0]
        other = session.get(MicroGrid, taken.micro_grid_id)
        building = known[taken.building_id]
        other_name = other.name if other else str(taken.micro_grid_id)
        raise DomainError(
            "grid.building_already_covered",
            f"楼幢 {building.number or building.building_id} 已属于微网格“{other_name}”，"
            "如需调整请选择“移入”",
            f"building {building.number or building.building_id} is covered by micro-grid "
            f"{other_name!r}; set move to take it over",
            ErrorKind.CONFLICT,
            tuple(
                FieldViolation(f"building_ids[{ids.index(c.building_id)}]", "already covered")
                for c in elsewhere
            ),
            params={
                "building_id": str(taken.building_id),
                "micro_grid_id": str(taken.micro_grid_id),
            },
        )
    result = []
    for building_id in ids:
        coverage = current.get(building_id)
        before = coverage.micro_grid_id if coverage else None
        if coverage is None:
            coverage = Coverage(tenant_id=tenant.value, building_id=building_id)
            session.add(coverage)
        coverage.micro_grid_id = micro.id
        if before != micro.id:
            emit(
                session,
                tenant,
                building_id,
                events_pb2.CoverageChanged(
                    tenant=tenant_ref(tenant),
                    building_id=str(building_id),
                    micro_grid_id=str(micro.id),
                    grid_id=str(micro.grid_id),
                    from_micro_grid_id=str(before or ""),
                ),
            )
        result.append((coverage, micro, known.get(building_id)))
    session.flush()
    changed(community)
    return result


def unassign_buildings(session: Session, tenant: TenantId, *, building_ids: Sequence[str]) -> int:
    ids = _building_ids(building_ids)
    community = lock_community(session, tenant)
    covered = session.scalars(
        select(Coverage).where(Coverage.building_id.in_(ids)).with_for_update()
    ).all()
    for coverage in covered:
        emit(
            session,
            tenant,
            coverage.building_id,
            events_pb2.CoverageChanged(
                tenant=tenant_ref(tenant),
                building_id=str(coverage.building_id),
                from_micro_grid_id=str(coverage.micro_grid_id),
            ),
        )
    if covered:
        session.execute(delete(Coverage).where(Coverage.building_id.in_(ids)))
        changed(community)
    return len(covered)


def list_coverage(
    session: Session, *, grid_id: str, micro_grid_id: str, page: Page
) -> Sequence[tuple[Coverage, MicroGrid, CensusBuilding | None]]:
    query = (
        select(Coverage, MicroGrid, CensusBuilding)
        .join(MicroGrid, MicroGrid.id == Coverage.micro_grid_id)
        .outerjoin(
            CensusBuilding,
            (CensusBuilding.building_id == Coverage.building_id)
            & (CensusBuilding.tenant_id == Coverage.tenant_id),
        )
        .order_by(Coverage.building_id)
    )
    if grid_id:
        query = query.where(MicroGrid.grid_id == get_grid(session, grid_id).id)
    if micro_grid_id:
        query = query.where(Coverage.micro_grid_id == get_micro_grid(session, micro_grid_id).id)
    if (after := sort_key(page, uuid.UUID)) is not None:
        query = query.where(Coverage.building_id > after[0])
    return [(c, m, b) for c, m, b in session.execute(query.limit(page.size + 1))]


def list_uncovered(session: Session, page: Page) -> Sequence[CensusBuilding]:
    query = (
        select(CensusBuilding)
        .outerjoin(
            Coverage,
            (Coverage.building_id == CensusBuilding.building_id)
            & (Coverage.tenant_id == CensusBuilding.tenant_id),
        )
        .where(Coverage.building_id.is_(None))
        .order_by(CensusBuilding.complex_id, CensusBuilding.number, CensusBuilding.building_id)
    )
    if (after := sort_key(page, uuid.UUID, str, uuid.UUID)) is not None:
        query = query.where(
            tuple_(CensusBuilding.complex_id, CensusBuilding.number, CensusBuilding.building_id)
            > after
        )
    return session.scalars(query.limit(page.size + 1)).all()
