"""What follows from a birth date on a given day: the elderly (一老) and child (一小) care tags.

A record stores the tags it had on the day it was written; ages move on without a write, so
every reader — lists, audiences, exports, events, statistics — takes elderly and child from the
birth date on the day asked, and the other tags (set by staff) as stored.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Final

from sqlalchemy import ColumnElement, or_

from census.identity.codes import ADULT_AGE, ELDERLY_AGE, age_on, is_child, is_elderly, years_before
from census.people.models import Resident

AGE_DERIVED_TAGS: Final = frozenset({"elderly", "child"})


def derived_care_tags(birth_date: date, today: date, settable: Collection[str]) -> list[str]:
    """The care tags on ``today``: ``settable`` ones as given (without elderly or child), and
    elderly or child by age."""
    age = age_on(birth_date, today)
    derived = {"elderly"} if is_elderly(age) else {"child"} if is_child(age) else set()
    return sorted(derived | (set(settable) - AGE_DERIVED_TAGS))


def care_tag_condition(tag: str, today: date) -> ColumnElement[bool]:
    """Residents who have ``tag`` on ``today`` (elderly and child by birth date, answered by the
    birth-date index; the others by the GIN index on the stored tags)."""
    if tag == "elderly":
        return Resident.birth_date <= years_before(today, ELDERLY_AGE)
    if tag == "child":
        return Resident.birth_date > years_before(today, ADULT_AGE)
    return Resident.care_tags.contains([tag])


def any_care_tag_condition(tags: Collection[str], today: date) -> ColumnElement[bool]:
    """Residents who have any of ``tags`` on ``today``."""
    stored = [tag for tag in tags if tag not in AGE_DERIVED_TAGS]
    conditions = [care_tag_condition(tag, today) for tag in tags if tag in AGE_DERIVED_TAGS]
    if stored:
        conditions.append(Resident.care_tags.overlap(stored))
    return or_(*conditions)
