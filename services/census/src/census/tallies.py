"""The table of precomputed figures: one row per standing building, what statistics sums.

A row holds a building's households, current residents (by residence type, tenure, age band and
care tag) and operating enterprises, counted on ``as_of`` (ages, and the elderly and child
tags, depend on the day). One column per word keeps a street's sum a plain SUM per column;
``COLUMNS`` maps each word of the vocabulary to its column, so a word without one fails at
import, not in a report.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Final

from sqlalchemy import Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from census.identity.codes import AGE_BANDS
from census.models import Base
from census.vocabulary import CARE_TAGS, RESIDENCE_TYPES, TENURES
from shequ_kit.db import TenantOwned


class BuildingTally(TenantOwned, Base):
    __tablename__ = "building_tally"

    building_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("building.id"), primary_key=True)
    complex_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("complex.id"))
    as_of: Mapped[date] = mapped_column(Date)  # the day ages were counted on
    households: Mapped[int]
    residents: Mapped[int]
    enterprises: Mapped[int]
    type_registered: Mapped[int]
    type_resident: Mapped[int]
    type_migrant: Mapped[int]
    tenure_owner: Mapped[int]
    tenure_tenant: Mapped[int]
    age_0_6: Mapped[int]
    age_7_17: Mapped[int]
    age_18_34: Mapped[int]
    age_35_59: Mapped[int]
    age_60_79: Mapped[int]
    age_80_plus: Mapped[int]
    tag_elderly: Mapped[int]
    tag_child: Mapped[int]
    tag_living_alone: Mapped[int]
    tag_disabled: Mapped[int]
    tag_party_member: Mapped[int]
    tag_veteran: Mapped[int]
    tag_key_group: Mapped[int]


def column_name(prefix: str, word: str) -> str:
    """``age`` and ``80+`` → ``age_80_plus``: a word as a column name."""
    return f"{prefix}_{word.replace('-', '_').replace('+', '_plus')}"


def _column(prefix: str, word: str) -> str:
    name = column_name(prefix, word)
    if name not in BuildingTally.__table__.c:
        raise LookupError(f"building_tally has no column {name}; add it with a migration")
    return name


# (breakdown of Statistics, word) → the column counting it, for every word the API knows.
COLUMNS: Final[dict[tuple[str, str], str]] = {
    **{("by_residence_type", word): _column("type", word) for word in RESIDENCE_TYPES},
    **{("by_tenure", word): _column("tenure", word) for word in TENURES},
    **{("by_age_band", band.key): _column("age", band.key) for band in AGE_BANDS},
    **{("by_care_tag", word): _column("tag", word) for word in CARE_TAGS},
}
