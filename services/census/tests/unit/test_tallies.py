"""The tally table has one column per word statistics report, in the model and the migration."""

import importlib.util
from pathlib import Path

from census.identity.codes import AGE_BANDS
from census.statistics import Statistics
from census.tallies import COLUMNS, BuildingTally, column_name

MIGRATION = (
    Path(__file__).resolve().parents[2] / "src/census/migrations/versions/0007_building_tally.py"
)
KEYS = {"tenant_id", "building_id", "complex_id", "as_of"}


def test_every_word_of_every_breakdown_has_its_own_column() -> None:
    empty = Statistics(scope_id="", scope_name="")
    words = {
        (breakdown, word)
        for breakdown in ("by_residence_type", "by_tenure", "by_age_band", "by_care_tag")
        for word in getattr(empty, breakdown)
    }

    assert set(COLUMNS) == words
    assert len(set(COLUMNS.values())) == len(COLUMNS)
    assert COLUMNS[("by_age_band", "80+")] == "age_80_plus"
    assert {band.key for band in AGE_BANDS} == {w for b, w in words if b == "by_age_band"}


def test_the_migration_creates_exactly_the_models_columns() -> None:
    spec = importlib.util.spec_from_file_location("building_tally_migration", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    model = {column.name for column in BuildingTally.__table__.columns} - KEYS
    assert set(migration.FIGURES) == model
    assert model == {"households", "residents", "enterprises", *COLUMNS.values()}


def test_a_word_becomes_a_plain_column_name() -> None:
    assert column_name("age", "0-6") == "age_0_6"
    assert column_name("tag", "living_alone") == "tag_living_alone"
