"""Precomputed statistics: every write keeps its buildings' tallies equal to a recount from the
records, a tally counted on another day is recounted, a street sums its communities, and no
tenant reaches another's tallies.

The recount here is plain Python over the records (ages with ``age_on``), independent of the
SQL that keeps the tallies. Written in a street of its own (东苑, 西苑, 南苑 of "tallies"), so
the figures are exact.
"""

import csv
import io
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import grpc
import psycopg
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from census.app import CensusCore
from census.enterprises.models import Enterprise
from census.enterprises.service import EnterpriseDraft, create_enterprise
from census.identity.codes import (
    age_band,
    age_on,
    credit_check_character,
    id_check_character,
    is_child,
    is_elderly,
)
from census.imports.service import import_residents
from census.imports.template import COLUMNS as TEMPLATE
from census.people import lifecycle
from census.people.models import Household, Resident
from census.people.service import ResidentDraft, create_household, create_resident
from census.places.models import Building
from census.places.service import create_building, create_complex, create_dwelling, create_unit
from census.seed import community_rows, insert_community
from census.statistics import (
    Statistics,
    rebuild_every_tenant,
    rebuild_tallies,
    refresh_buildings,
    statistics,
)
from census.synthetic import generate_community
from census.tallies import COLUMNS, BuildingTally
from shequ.census.v1 import census_pb2 as pb
from shequ_infra import LocalInfrastructure
from shequ_kit.audit import Actor, acting_as
from shequ_kit.tenancy import TenantId, tenant_scope

TODAY = date(2026, 11, 23)
TOMORROW = TODAY + timedelta(days=1)
STREET = TenantId("xiaoshan.tallies")
DONG = TenantId("xiaoshan.tallies.dongyuan")
XI = TenantId("xiaoshan.tallies.xiyuan")
NAN = TenantId("xiaoshan.tallies.nanyuan")
BEI = TenantId("xiaoshan.tallies.beiyuan")  # bulk-seeded
HUSHAN = TenantId("xiaoshan.shushan.hushan")
TOPIC = "shequ.census.v1"
STAFF = "tallies-staff"
Call = Callable[..., Any]


def id_number(birth: str, sequence: str) -> str:
    first17 = f"330109{birth}{sequence}"
    return first17 + id_check_character(first17)


# --- the oracle and what the service keeps -------------------------------------------------


def recount(core: CensusCore, tenant: TenantId, today: date) -> dict[str, Statistics]:
    """Each standing building's figures, counted one record at a time in Python."""
    with tenant_scope(tenant), core.sessions() as session:
        standing = session.scalars(select(Building.id).where(Building.removed_at.is_(None)))
        figures = {str(b): Statistics(scope_id=str(b), scope_name="") for b in standing}
        for household in session.scalars(select(Household).where(Household.removed_at.is_(None))):
            figures[str(household.building_id)].households += 1
        for r in session.scalars(select(Resident).where(Resident.moved_out_on.is_(None))):
            counted = figures[str(r.building_id)]
            age = age_on(r.birth_date, today)
            counted.residents += 1
            counted.by_residence_type[r.residence_type] += 1
            counted.by_tenure[r.tenure] += 1
            counted.by_age_band[age_band(age).key] += 1
            tags = set(r.care_tags) - {"elderly", "child"}
            tags |= {"elderly"} if is_elderly(age) else {"child"} if is_child(age) else set()
            for tag in tags:
                counted.by_care_tag[tag] += 1
        for enterprise in session.scalars(
            select(Enterprise).where(
                Enterprise.building_id.is_not(None),
                Enterprise.closed_on.is_(None),
                Enterprise.removed_at.is_(None),
            )
        ):
            figures[str(enterprise.building_id)].enterprises += 1
    return figures


def tallied(core: CensusCore, tenant: TenantId) -> tuple[dict[str, Statistics], set[date]]:
    """The tally rows as they are in the database (no recount on the way), and their days."""
    with tenant_scope(tenant), core.sessions() as session:
        rows = session.scalars(select(BuildingTally)).all()
    figures: dict[str, Statistics] = {}
    for row in rows:
        counted = Statistics(
            scope_id=str(row.building_id),
            scope_name="",
            households=row.households,
            residents=row.residents,
            enterprises=row.enterprises,
        )
        for (breakdown, word), column in COLUMNS.items():
            getattr(counted, breakdown)[word] = getattr(row, column)
        figures[str(row.building_id)] = counted
    return figures, {row.as_of for row in rows}


def assert_tallies_are_current(core: CensusCore, *tenants: TenantId) -> None:
    """The writes themselves left every row equal to a recount, counted today."""
    for tenant in tenants:
        figures, days = tallied(core, tenant)
        assert days == {TODAY}, tenant
        assert figures == recount(core, tenant, TODAY), tenant


def stats_of(
    core: CensusCore, tenant: TenantId, today: date = TODAY, **parts: bool
) -> tuple[Statistics, list[Statistics]]:
    asked = {"by_complex": False, "by_building": False, "street_parts": False, **parts}
    with tenant_scope(tenant), core.sessions.begin() as session:
        return statistics(session, today=today, **asked)


def nameless(parts: list[Statistics]) -> dict[str, Statistics]:
    return {p.scope_id: replace(p, scope_name="") for p in parts}


# --- builders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    building: uuid.UUID
    dwelling: str
    household: str


def place(session: Session, tenant: TenantId, complex_id: str, number: str, room: str) -> Place:
    """A building (or another dwelling in it) with a household of owners."""
    building = session.scalars(
        select(Building).where(
            Building.complex_id == uuid.UUID(complex_id), Building.number == number
        )
    ).one_or_none() or create_building(
        session, tenant, TOPIC, complex_id=complex_id, number=number, floors=6, today=TODAY
    )
    unit = create_unit(session, building_id=str(building.id), number=f"{room}单元")
    dwelling = create_dwelling(session, unit_id=str(unit.id), room=room)
    household = create_household(
        session, tenant, TOPIC, dwelling_id=str(dwelling.id), tenure="owner", today=TODAY
    )
    return Place(building.id, str(dwelling.id), str(household.id))


def draft(household: str, name: str, number: str, **fields: Any) -> ResidentDraft:
    given: dict[str, Any] = {
        "relation_to_head": "other",
        "residence_type": "registered",
        "tenure": "owner",
        **fields,
    }
    return ResidentDraft(household_id=household, name=name, id_number=number, phone="", **given)


def register(
    core: CensusCore,
    tenant: TenantId,
    household: str,
    name: str,
    birth: str,
    sequence: str,
    *,
    relation: str = "other",
    residence: str = "registered",
    tags: frozenset[str] = frozenset(),
) -> Resident:
    with tenant_scope(tenant), core.sessions.begin() as session:
        return create_resident(
            session,
            core.protection,
            tenant,
            TOPIC,
            draft(
                household,
                name,
                id_number(birth, sequence),
                relation_to_head=relation,
                residence_type=residence,
                care_tags=tags,
            ),
            verifier=STAFF,
            today=TODAY,
        )


def import_file(rows: list[dict[str, str]]) -> bytes:
    """A CSV in the template's columns; cells not given are empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.header_zh for column in TEMPLATE])
    for row in rows:
        writer.writerow([row.get(column.header_zh, "") for column in TEMPLATE])
    return buffer.getvalue().encode("utf-8")


def imported_row(name: str, number: str, building: str, room: str, tags: str) -> dict[str, str]:
    return {
        "姓名": name,
        "身份证号": number,
        "与户主关系": "户主",
        "户籍类型": "流动",
        "是否租住": "租住",
        "小区": "东苑",
        "楼幢": building,
        "单元": "1单元",
        "房号": room,
        "关爱标签": tags,
        "核实日期": "2026-11-01",
    }


@dataclass(frozen=True)
class Town:
    dong_complex: str
    dong_1: Place  # 东苑1幢
    dong_1b: Place  # another household in 东苑1幢
    dong_2: Place  # 东苑2幢
    xi_1: Place  # 西苑1幢
    xi_2: Place  # 西苑2幢
    nan_1: Place  # 南苑1幢
    nan_1b: Place  # another household in 南苑1幢


@pytest.fixture(scope="module")
def town(core: CensusCore) -> Town:
    def complex_with_places(tenant: TenantId, name: str, *rooms: tuple[str, str]) -> list[Any]:
        with tenant_scope(tenant), core.sessions.begin() as session:
            complex_id = str(create_complex(session, name=name, address="", delivered_year=None).id)
            return [complex_id] + [
                place(session, tenant, complex_id, number, room) for number, room in rooms
            ]

    dong_complex, dong_1, dong_1b, dong_2 = complex_with_places(
        DONG, "东苑", ("1幢", "101"), ("1幢", "102"), ("2幢", "201")
    )
    _, xi_1, xi_2 = complex_with_places(XI, "西苑", ("1幢", "101"), ("2幢", "201"))
    _, nan_1, nan_1b = complex_with_places(NAN, "南苑", ("1幢", "101"), ("1幢", "102"))
    return Town(dong_complex, dong_1, dong_1b, dong_2, xi_1, xi_2, nan_1, nan_1b)


# --- every write keeps the tallies ---------------------------------------------------------


def test_every_write_keeps_its_buildings_tallies_equal_to_a_recount(
    core: CensusCore, town: Town
) -> None:
    # New buildings and households: rows of zeros but for the households.
    assert_tallies_are_current(core, DONG, XI)
    assert tallied(core, DONG)[0][str(town.dong_2.building)].households == 1

    elder = register(core, DONG, town.dong_1.household, "东一", "19460101", "111", relation="self")
    mover = register(
        core, DONG, town.dong_1.household, "东二", "19900505", "121", residence="migrant"
    )
    child = register(core, DONG, town.dong_1b.household, "东三", "20150707", "131", relation="self")
    leaver = register(
        core, DONG, town.dong_2.household, "东四", "19800808", "141", tags=frozenset({"veteran"})
    )
    assert_tallies_are_current(core, DONG)
    assert tallied(core, DONG)[0][str(town.dong_1.building)].by_care_tag["elderly"] == 1

    with tenant_scope(DONG), core.sessions.begin() as session:  # correct tags and type
        lifecycle.update_resident(
            session,
            core.protection,
            DONG,
            TOPIC,
            resident_id=str(child.id),
            changes=ResidentDraft(
                household_id="",
                name="",
                id_number="",
                phone="",
                relation_to_head="",
                residence_type="resident",
                tenure="",
                care_tags=frozenset({"disabled"}),
            ),
            paths=["care_tags", "residence_type"],
            expected_version=child.version,
            verifier=STAFF,
            today=TODAY,
        )
    assert_tallies_are_current(core, DONG)
    assert tallied(core, DONG)[0][str(town.dong_1.building)].by_care_tag["disabled"] == 1

    with tenant_scope(DONG), core.sessions.begin() as session:  # 1幢 → 2幢
        moved = lifecycle.move_within_community(
            session,
            DONG,
            TOPIC,
            str(mover.id),
            town.dong_2.household,
            moved_on=None,
            expected_version=mover.version,
            today=TODAY,
        )
    assert_tallies_are_current(core, DONG)
    assert tallied(core, DONG)[0][str(town.dong_2.building)].by_residence_type["migrant"] == 1

    with tenant_scope(STREET), core.sessions.begin() as session:  # 东苑2幢 → 西苑1幢
        lifecycle.transfer_within_street(
            session,
            core.protection,
            TOPIC,
            source=DONG,
            target=XI,
            resident_id=str(moved.id),
            to_household_id=town.xi_1.household,
            moved_on=None,
            expected_version=moved.version,
            verifier=STAFF,
            today=TODAY,
        )
    assert_tallies_are_current(core, DONG, XI)
    assert tallied(core, XI)[0][str(town.xi_1.building)].residents == 1

    with tenant_scope(DONG), core.sessions.begin() as session:  # a wrong record, and one gone
        lifecycle.close_stay(
            session,
            DONG,
            TOPIC,
            str(leaver.id),
            reason="重复登记的记录",
            moved_away=False,
            moved_on=None,
            expected_version=leaver.version,
            today=TODAY,
        )
        lifecycle.close_stay(
            session,
            DONG,
            TOPIC,
            str(elder.id),
            reason="迁出",
            moved_away=True,
            moved_on=None,
            expected_version=elder.version,
            today=TODAY,
        )
    assert_tallies_are_current(core, DONG)
    assert tallied(core, DONG)[0][str(town.dong_2.building)].by_care_tag["veteran"] == 0

    data = import_file(
        [
            imported_row("东五", id_number("19560303", "151"), "1幢", "103", "独居"),
            imported_row("东六", id_number("20200404", "161"), "3幢", "301", ""),
        ]
    )
    # The import is audited: without a gRPC caller in context, the test names its actor.
    with (
        tenant_scope(DONG),
        acting_as(Actor(STAFF, STAFF)),
        core.sessions.begin() as session,
    ):  # 东苑1幢 and a new 东苑3幢
        outcome = import_residents(
            session,
            core.protection,
            DONG,
            TOPIC,
            data,
            file_name="东苑.csv",
            file_format="csv",
            strict=True,
            actor=STAFF,
            today=TODAY,
        )
    assert (outcome.rows_imported, outcome.rejected) == (2, [])
    assert_tallies_are_current(core, DONG)
    assert len(tallied(core, DONG)[0]) == 3

    with tenant_scope(DONG), core.sessions.begin() as session:
        for code, dwelling in (
            ("91330109MA2TL0001", town.dong_2.dwelling),
            ("91330109MA2TL0002", ""),
        ):
            create_enterprise(
                session,
                core.protection,
                DONG,
                TOPIC,
                EnterpriseDraft(
                    name=f"东苑企业{code[-1]}",
                    credit_code=code + credit_check_character(code),
                    type="company",
                    address="东苑路1号",
                    dwelling_id=dwelling,
                ),
                verifier=STAFF,
                today=TODAY,
            )
    assert_tallies_are_current(core, DONG)
    assert tallied(core, DONG)[0][str(town.dong_2.building)].enterprises == 1

    # The sums the service answers with are the recount's sums; the roadside company counts
    # in the total only.
    total, parts = stats_of(core, DONG, by_building=True)
    expected = recount(core, DONG, TODAY)
    assert nameless(parts) == expected
    assert total.residents == sum(f.residents for f in expected.values()) == 3
    assert total.enterprises == 2
    for tag in ("elderly", "child", "living_alone", "disabled"):
        assert total.by_care_tag[tag] == sum(f.by_care_tag[tag] for f in expected.values())


def test_a_rebuild_from_scratch_restores_tallies_that_went_wrong(
    core: CensusCore, town: Town
) -> None:
    def spoil() -> None:
        with tenant_scope(NAN), core.sessions.begin() as session:
            session.execute(update(BuildingTally).values(residents=999, tag_elderly=7))

    register(core, NAN, town.nan_1.household, "南一", "19700101", "211", relation="self")
    spoil()
    assert stats_of(core, NAN)[0].residents == 999  # today's rows are trusted as written

    with tenant_scope(NAN), core.sessions.begin() as session:
        counted = rebuild_tallies(session, TODAY)
    assert counted == len(recount(core, NAN, TODAY)) == 1
    assert_tallies_are_current(core, NAN)

    spoil()
    rebuilt = rebuild_every_tenant(core.sessions, TODAY)  # python -m census rebuild-statistics
    assert rebuilt[NAN.value] == 1
    assert {DONG.value, XI.value, NAN.value} <= set(rebuilt)
    assert_tallies_are_current(core, NAN)


def test_two_staff_registering_in_one_building_at_once_are_both_counted(
    core: CensusCore, town: Town
) -> None:
    first_counted = threading.Event()

    def first_writer() -> None:
        with tenant_scope(NAN), core.sessions.begin() as session:
            create_resident(
                session,
                core.protection,
                NAN,
                TOPIC,
                draft(town.nan_1.household, "南并一", id_number("19720202", "241")),
                verifier=STAFF,
                today=TODAY,
            )
            first_counted.set()
            time.sleep(0.5)  # still uncommitted while the second writer counts

    before = tallied(core, NAN)[0][str(town.nan_1.building)].residents
    writer = threading.Thread(target=first_writer)
    writer.start()
    assert first_counted.wait(timeout=10)
    # Another household (a household's row is locked by its writer): only the tally is shared.
    register(core, NAN, town.nan_1b.household, "南并二", "19730303", "251")
    writer.join()

    assert tallied(core, NAN)[0][str(town.nan_1.building)].residents == before + 2
    assert_tallies_are_current(core, NAN)


def test_a_bulk_seeded_community_has_its_tallies(core: CensusCore) -> None:
    community = generate_community(tenant_id=BEI.value, seed=5, households=60, today=TODAY)
    with tenant_scope(BEI), core.sessions.begin() as session:
        insert_community(session, community_rows(community, core, BEI), TODAY)

    figures, days = tallied(core, BEI)
    assert days == {TODAY}
    assert figures == recount(core, BEI, TODAY)
    assert sum(f.residents for f in figures.values()) == len(community.residents)


# --- ages move with the calendar -----------------------------------------------------------


def test_a_tally_counted_on_an_earlier_day_is_recounted_for_todays_ages(
    core: CensusCore, town: Town
) -> None:
    # On 24 November 南二 turns 60 and 南三 18: one more elderly, one child fewer.
    register(core, NAN, town.nan_1.household, "南二", "19661124", "221")
    register(core, NAN, town.nan_1.household, "南三", "20081124", "231")
    today, _ = stats_of(core, NAN)

    tomorrow, _ = stats_of(core, NAN, TOMORROW)

    assert tomorrow.by_care_tag["elderly"] == today.by_care_tag["elderly"] + 1
    assert tomorrow.by_care_tag["child"] == today.by_care_tag["child"] - 1
    assert tomorrow.by_age_band["60-79"] == today.by_age_band["60-79"] + 1
    assert tomorrow.by_age_band["35-59"] == today.by_age_band["35-59"] - 1
    assert tomorrow.by_age_band["18-34"] == today.by_age_band["18-34"] + 1
    assert tomorrow.residents == today.residents
    figures, days = tallied(core, NAN)
    assert days == {TOMORROW}  # kept, so the next request sums without recounting
    assert figures == recount(core, NAN, TOMORROW)
    assert tallied(core, DONG)[1] == {TODAY}  # only the asking tenant's rows were recounted

    stats_of(core, NAN)  # and back: any other day is recounted, not only a later one
    assert tallied(core, NAN)[1] == {TODAY}


def test_stale_and_missing_rows_are_recounted_before_summing(core: CensusCore, town: Town) -> None:
    register(core, XI, town.xi_2.household, "西一", "19880202", "311", relation="self")
    with tenant_scope(XI), core.sessions.begin() as session:
        session.execute(
            update(BuildingTally)
            .where(BuildingTally.building_id == town.xi_1.building)
            .values(as_of=TODAY - timedelta(days=1), residents=999, households=0)
        )
        session.execute(
            delete(BuildingTally).where(BuildingTally.building_id == town.xi_2.building)
        )

    total, parts = stats_of(core, XI, by_building=True)

    expected = recount(core, XI, TODAY)
    assert nameless(parts) == expected
    assert total.residents == sum(f.residents for f in expected.values())
    assert total.households == 2
    assert_tallies_are_current(core, XI)


# --- a street, and the walls between tenants -----------------------------------------------


def test_a_street_sums_its_communities_and_each_part_is_what_the_community_sees(
    core: CensusCore, town: Town
) -> None:
    total, parts = stats_of(core, STREET, street_parts=True)
    _, buildings = stats_of(core, STREET, by_building=True)

    assert total.scope_id == STREET.value
    assert [p.scope_id for p in parts] == sorted(t.value for t in (BEI, DONG, NAN, XI))
    for part in parts:
        assert stats_of(core, TenantId(part.scope_id))[0] == part
    for figure in ("households", "residents", "enterprises"):
        assert getattr(total, figure) == sum(getattr(p, figure) for p in parts)
    for breakdown in ("by_residence_type", "by_tenure", "by_age_band", "by_care_tag"):
        for word, count in getattr(total, breakdown).items():
            assert count == sum(getattr(p, breakdown)[word] for p in parts)
    every_building = {
        **recount(core, BEI, TODAY),
        **recount(core, DONG, TODAY),
        **recount(core, XI, TODAY),
        **recount(core, NAN, TODAY),
    }
    assert nameless(buildings) == every_building


def test_a_community_neither_reads_nor_recounts_another_communitys_tallies(
    core: CensusCore, infra: LocalInfrastructure, town: Town
) -> None:
    before = tallied(core, DONG)
    with tenant_scope(HUSHAN), core.sessions.begin() as session:
        refresh_buildings(session, [town.dong_1.building], TODAY + timedelta(days=5))
        seen = session.scalars(select(BuildingTally.building_id)).all()
    _, hushan_buildings = stats_of(core, HUSHAN, by_building=True)

    assert tallied(core, DONG) == before
    assert town.dong_1.building not in seen
    assert str(town.dong_1.building) not in {p.scope_id for p in hushan_buildings}
    with psycopg.connect(infra.postgres.dsn("census")) as connection:
        # Without the tenant setting, row-level security shows nothing.
        assert connection.execute("SELECT count(*) FROM building_tally").fetchone() == (0,)


def test_statistics_of_another_community_are_refused_over_grpc(call: Call) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        call("GetStatistics", pb.GetStatisticsRequest(), tenant=DONG.value)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_get_statistics_keeps_the_rows_it_recounted(core: CensusCore, call: Call) -> None:
    complex_ = call("CreateComplex", pb.CreateComplexRequest(name="统计留存苑")).complex
    building = call(
        "CreateBuilding", pb.CreateBuildingRequest(complex_id=complex_.id, number="1幢")
    ).building
    building_id = uuid.UUID(building.id)
    with tenant_scope(HUSHAN), core.sessions.begin() as session:
        session.execute(
            update(BuildingTally)
            .where(BuildingTally.building_id == building_id)
            .values(as_of=TODAY - timedelta(days=3), residents=5)
        )

    answer = call("GetStatistics", pb.GetStatisticsRequest(by_building=True))

    (part,) = [p for p in answer.parts if p.scope_id == building.id]
    assert (part.scope_name, part.residents, part.households) == ("统计留存苑1幢", 0, 0)
    with tenant_scope(HUSHAN), core.sessions() as session:
        kept = session.get(BuildingTally, building_id)
    assert kept is not None
    assert (kept.as_of, kept.residents) == (TODAY, 0)
