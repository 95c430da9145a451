"""The catalogue and calendar in force per tenant, asked on every report and action, kept in a
per-process cache that the tables' notices empty (``shequ_kit.cache``; migration 0001)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from cases import calendars, categories
from cases.sla import HolidayTable, WorkingCalendar
from shequ.cases.v1 import cases_pb2 as pb
from shequ_kit.cache import NotifiedCache
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.tenancy import TenantId

CHANNEL = "cases_reference"


class Reference:
    def __init__(self, sessions: sessionmaker[Session], cache: NotifiedCache) -> None:
        self._sessions = sessions
        self._cache = cache

    def calendar_pb(self, session: Session, tenant: TenantId) -> pb.Calendar:
        key = ("calendar", tenant.value)
        if (cached := self._cache.get(key)) is not None:
            return pb.Calendar.FromString(cached)
        generation = self._cache.generation()
        found = calendars.calendar_pb(self._sessions, session, tenant)
        self._cache.put(key, found.SerializeToString(), generation)
        return found

    def calendar(self, session: Session, tenant: TenantId) -> WorkingCalendar:
        found = self.calendar_pb(session, tenant)
        return WorkingCalendar(
            holiday_table=HolidayTable(
                frozenset(date.fromisoformat(d) for d in found.effective_holidays),
                frozenset(date.fromisoformat(d) for d in found.effective_adjusted_working_days),
            )
        )

    def catalogue(self, session: Session, tenant: TenantId) -> list[pb.Category]:
        """Every class in force, disabled ones included (callers filter)."""
        key = ("catalogue", tenant.value)
        if (cached := self._cache.get(key)) is not None:
            return list(pb.ListCategoriesResponse.FromString(cached).categories)
        generation = self._cache.generation()
        found = [
            categories.category_pb(c)
            for c in categories.catalogue(self._sessions, session, tenant, include_disabled=True)
        ]
        self._cache.put(
            key, pb.ListCategoriesResponse(categories=found).SerializeToString(), generation
        )
        return found

    def category(self, session: Session, tenant: TenantId, code: str) -> pb.Category:
        """An enabled class in force, or a 422 naming ``category_code``."""
        for category in self.catalogue(session, tenant):
            if category.code == code and category.enabled:
                return category
        raise invalid_input(
            "cases.category_code_invalid",
            f"没有可用的事件类别 {code or '（空）'}",
            f"no enabled case category {code!r} in {tenant}",
            FieldViolation("category_code", "not an enabled category of this tenant"),
        )

    def invalidate(self) -> None:
        self._cache.invalidate()
