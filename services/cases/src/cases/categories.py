"""The category catalogue in the database: each tenant's rows, and the catalogue in force for a
tenant read from its own rows and its ancestors' (``catalogue.effective_catalogue``).

An ancestor's rows are read in a transaction scoped to that ancestor: a community may use its
street's definitions, never see the street's cases.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cases.catalogue import (
    MAJORS,
    CategoryDef,
    EffectiveCategory,
    Origin,
    StoredCategory,
    effective_catalogue,
    seed_rows,
    validate,
)
from cases.lifecycle import Level
from cases.models import CategoryRow
from cases.records import level_pb, level_word
from cases.sla import DeadlineUnit
from shequ.cases.v1 import cases_pb2 as pb
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, not_found
from shequ_kit.tenancy import TenantId, tenant_scope


def stored(row: CategoryRow) -> StoredCategory:
    return StoredCategory(
        tenant_id=row.tenant_id,
        definition=CategoryDef(
            code=row.code,
            name=row.name,
            acceptance_standard=row.acceptance_standard,
            closing_standard=row.closing_standard,
            deadline_amount=row.deadline_amount,
            deadline_unit=DeadlineUnit(row.deadline_unit),
            responsible_level=Level(row.responsible_level),
            urgent=row.urgent,
            enabled=row.enabled,
            major_name=row.major_name,
        ),
        origin=Origin(row.origin),
        version=row.version,
    )


def rows_in_reach(
    sessions: sessionmaker[Session], session: Session, tenant: TenantId
) -> list[StoredCategory]:
    """The tenant's rows (in the caller's transaction) and its ancestors' (one short
    transaction each, in the ancestor's own scope)."""
    rows = [
        stored(r)
        for r in session.scalars(select(CategoryRow).where(CategoryRow.tenant_id == tenant.value))
    ]
    for ancestor in tenant.ancestors():
        with tenant_scope(ancestor), sessions() as other:
            rows.extend(
                stored(r)
                for r in other.scalars(
                    select(CategoryRow).where(
                        CategoryRow.tenant_id == ancestor.value, CategoryRow.origin == Origin.CUSTOM
                    )
                )
            )
    return rows


def catalogue(
    sessions: sessionmaker[Session], session: Session, tenant: TenantId, include_disabled: bool
) -> list[EffectiveCategory]:
    return effective_catalogue(
        tenant, rows_in_reach(sessions, session, tenant), include_disabled=include_disabled
    )


def seed(session: Session, tenant: TenantId, by: str) -> int:
    """Insert the default catalogue's classes the tenant lacks (idempotent)."""
    have = set(
        session.scalars(select(CategoryRow.code).where(CategoryRow.tenant_id == tenant.value))
    )
    added = [
        _row(tenant, definition, Origin.DEFAULT, by)
        for definition in seed_rows()
        if definition.code not in have
    ]
    session.add_all(added)
    return len(added)


def put(
    session: Session, tenant: TenantId, given: pb.Category, expected_version: int, by: str
) -> CategoryRow:
    """Add (expected_version 0) or edit the tenant's own class; either way it becomes custom."""
    definition = validate(definition_of(given), known_majors=_majors(session, tenant))
    row = session.get(CategoryRow, (tenant.value, definition.code), with_for_update=True)
    current = row.version if row is not None else 0
    if expected_version != current:
        raise DomainError(
            "cases.stale_version",
            "该类别已被他人修改，请刷新后重试" if current else "该类别尚未设立，请按新增提交",
            f"category {definition.code} is at version {current}, not {expected_version}",
            ErrorKind.CONFLICT,
            params={"current_version": str(current)},
        )
    if row is None:
        row = _row(tenant, definition, Origin.CUSTOM, by)
        session.add(row)
    else:
        _fill(row, definition)
        row.origin = Origin.CUSTOM.value
        row.version += 1
        row.updated_by = by
        row.updated_at = datetime.now(UTC)
    session.flush()
    return row


def definition_of(given: pb.Category) -> CategoryDef:
    unit = {
        pb.DEADLINE_UNIT_WORKING_HOURS: DeadlineUnit.WORKING_HOURS,
        pb.DEADLINE_UNIT_WORKING_DAYS: DeadlineUnit.WORKING_DAYS,
    }.get(given.deadline_unit)
    if unit is None:
        raise invalid_input(
            "cases.category_invalid",
            "请选择处置时限单位：工作小时或工作日",
            "category.deadline_unit must be working_hours or working_days",
            FieldViolation("category.deadline_unit", "working_hours or working_days"),
        )
    level = level_word(given.responsible_level)
    if level is None:
        raise invalid_input(
            "cases.category_invalid",
            "请选择责任层级：微网格、网格、社区或街道",
            "category.responsible_level is required",
            FieldViolation("category.responsible_level", "micro_grid, grid, community or street"),
        )
    return CategoryDef(
        code=given.code.strip(),
        name=given.name,
        acceptance_standard=given.acceptance_standard,
        closing_standard=given.closing_standard,
        deadline_amount=given.deadline_amount,
        deadline_unit=unit,
        responsible_level=level,
        urgent=given.urgent,
        enabled=given.enabled,
        major_name=given.major_name,
    )


def category_pb(found: EffectiveCategory) -> pb.Category:
    d = found.definition
    return pb.Category(
        code=d.code,
        major_code=d.major_code,
        major_name=d.major_name or MAJORS.get(d.major_code, ""),
        name=d.name,
        acceptance_standard=d.acceptance_standard,
        closing_standard=d.closing_standard,
        deadline_amount=d.deadline_amount,
        deadline_unit=(
            pb.DEADLINE_UNIT_WORKING_HOURS
            if d.deadline_unit is DeadlineUnit.WORKING_HOURS
            else pb.DEADLINE_UNIT_WORKING_DAYS
        ),
        responsible_level=level_pb(d.responsible_level),
        urgent=d.urgent,
        enabled=d.enabled,
        defined_by=found.defined_by,
        version=found.version,
    )


def _majors(session: Session, tenant: TenantId) -> dict[str, str]:
    """Default majors plus the tenant's own (a tenant may open a major class of its own)."""
    own = session.execute(
        select(CategoryRow.code, CategoryRow.major_name).where(
            CategoryRow.tenant_id == tenant.value
        )
    )
    return {**{code[:2]: name for code, name in own if name}, **MAJORS}


def _row(tenant: TenantId, definition: CategoryDef, origin: Origin, by: str) -> CategoryRow:
    row = CategoryRow(tenant_id=tenant.value, code=definition.code, origin=origin.value)
    _fill(row, definition)
    row.version = 1
    row.updated_by = by
    return row


def _fill(row: CategoryRow, d: CategoryDef) -> None:
    row.major_name = d.major_name or MAJORS.get(d.major_code, "")
    row.name = d.name
    row.acceptance_standard = d.acceptance_standard
    row.closing_standard = d.closing_standard
    row.deadline_amount = d.deadline_amount
    row.deadline_unit = d.deadline_unit.value
    row.responsible_level = d.responsible_level.value
    row.urgent = d.urgent
    row.enabled = d.enabled


def not_a_category(code: str) -> DomainError:
    return not_found("cases.category_not_found", f"没有事件类别 {code}", f"no category {code}")
