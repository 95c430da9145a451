"""Enterprises, organisations, statistics and the audience queries, at the domain level on the
real (migrated) census database.

The figures are exact because they are counted in a community no other test module writes to
(朝闻, one of the six being prepared), in complexes named only here.
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from census.app import CensusCore
from census.audiences import (
    Audience,
    ResidentInPlace,
    households_per_building,
    residents_in_places,
)
from census.contacts import contact_phone_of
from census.enterprises.models import Enterprise
from census.enterprises.service import EnterpriseDraft, create_enterprise, list_enterprises
from census.identity.codes import credit_check_character, id_check_character
from census.models import outbox
from census.organizations.service import (
    OrganizationDraft,
    create_organization,
    list_organizations,
)
from census.people import lifecycle
from census.people.service import ResidentDraft, create_household, create_resident
from census.places.models import Building, Complex, Dwelling
from census.places.service import create_building, create_complex, create_dwelling, create_unit
from census.statistics import Statistics, statistics
from census.vocabulary import CARE_TAGS, RESIDENCE_TYPES, TENURES
from shequ.census.v1 import census_pb2 as pb
from shequ.census.v1 import events_pb2
from shequ_infra import LocalInfrastructure
from shequ_kit.db import system_scope
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.paging import Page
from shequ_kit.tenancy import TenantId, tenant_scope

TODAY = date(2026, 11, 23)
STREET = "xiaoshan.shushan"
CHAOWEN = TenantId("xiaoshan.shushan.chaowen")
HUSHAN = TenantId("xiaoshan.shushan.hushan")
TOPIC = "shequ.census.v1"
STAFF = "chaowen-staff"
AGE_BAND_KEYS = ("0-6", "7-17", "18-34", "35-59", "60-79", "80+")


def id_number(birth: str, sequence: str) -> str:
    first17 = f"330109{birth}{sequence}"
    return first17 + id_check_character(first17)


def credit_code(body: str) -> str:
    """A valid GB 32100 code: 17 characters of ``body`` and their check character."""
    return body + credit_check_character(body)


COMPANY_CODE = credit_code("91330109MA2H3K4L5")
SHOP_CODE = credit_code("92330109MA2J6K7M8")
ROADSIDE_CODE = credit_code("91330109MA2P9Q1R2")


def refusal(action: Callable[[], Any]) -> DomainError:
    with pytest.raises(DomainError) as failure:
        action()
    return failure.value


def violated_field(error: DomainError) -> str:
    return error.field_violations[0].field


def full(words: Any, counted: Mapping[str, int]) -> dict[str, int]:
    """A breakdown as statistics gives it: every word, 0 unless counted."""
    return {word: counted.get(word, 0) for word in words}


@dataclass(frozen=True)
class Chaowen:
    complex_a: Complex
    complex_b: Complex
    a1: Building
    a2: Building
    b1: Building
    dwelling_a2: Dwelling
    dwelling_b1: Dwelling
    residents: dict[str, str]  # name → resident id
    foreign_complex: Complex  # of Hushan


def dwelling_in(session: Session, building: Building, unit_number: str, room: str) -> Dwelling:
    unit = create_unit(session, building_id=str(building.id), number=unit_number)
    return create_dwelling(session, unit_id=str(unit.id), room=room)


@pytest.fixture(scope="module")
def chaowen(core: CensusCore) -> Chaowen:
    """Two complexes of 朝闻 on 23 November 2026, ages chosen on the band edges:

    统计苑1幢 household 1: 甲 1946-11-23 (80 today) registered owner  独居
              household 2: 乙 1966-11-23 (60 today) registered tenant
                           丙 1966-11-24 (59)       migrant tenant    党员
                           丁 2019-11-24 (6)        migrant tenant
    统计苑2幢 household 3: 戊 2008-11-24 (17)       resident owner
                           己 1980-03-03 (46)       registered owner  残疾 退役军人
                           庚 1975-01-01 moved away (重点人群): counts nowhere
    企业苑1幢 household 4: 辛 1950-06-06 (76)       registered owner
    Enterprises: one in 统计苑2幢, one in 企业苑1幢, one on a road outside both.
    """
    with tenant_scope(CHAOWEN), core.sessions.begin() as session:
        complex_a = create_complex(session, name="朝闻统计苑", address="", delivered_year=2018)
        complex_b = create_complex(session, name="朝闻企业苑", address="", delivered_year=2020)
        a1, a2, b1 = (
            create_building(session, CHAOWEN, TOPIC, complex_id=str(c.id), number=number, floors=6)
            for c, number in ((complex_a, "1幢"), (complex_a, "2幢"), (complex_b, "1幢"))
        )
        dwellings = {
            "h1": dwelling_in(session, a1, "1单元", "101"),
            "h2": dwelling_in(session, a1, "2单元", "102"),
            "h3": dwelling_in(session, a2, "1单元", "201"),
            "h4": dwelling_in(session, b1, "1单元", "301"),
        }
        tenures = {"h1": "owner", "h2": "tenant", "h3": "owner", "h4": "owner"}
        households = {
            key: create_household(
                session, CHAOWEN, TOPIC, dwelling_id=str(d.id), tenure=tenures[key]
            )
            for key, d in dwellings.items()
        }
        people = [
            ("甲", "h1", "19461123", "111", "self", "registered", "owner", {"living_alone"}),
            ("乙", "h2", "19661123", "121", "self", "registered", "tenant", set()),
            ("丙", "h2", "19661124", "131", "spouse", "migrant", "tenant", {"party_member"}),
            ("丁", "h2", "20191124", "141", "child", "migrant", "tenant", set()),
            ("戊", "h3", "20081124", "151", "child", "resident", "owner", set()),
            ("己", "h3", "19800303", "161", "self", "registered", "owner", {"disabled", "veteran"}),
            ("庚", "h3", "19750101", "171", "other", "registered", "owner", {"key_group"}),
            ("辛", "h4", "19500606", "181", "self", "registered", "owner", set()),
        ]
        residents: dict[str, str] = {}
        for name, home, birth, sequence, relation, residence, tenure, tags in people:
            residents[name] = str(
                create_resident(
                    session,
                    core.protection,
                    CHAOWEN,
                    TOPIC,
                    ResidentDraft(
                        household_id=str(households[home].id),
                        name=name,
                        id_number=id_number(birth, sequence),
                        phone="13700002222",
                        relation_to_head=relation,
                        residence_type=residence,
                        tenure=tenure,
                        care_tags=frozenset(tags),
                    ),
                    verifier=STAFF,
                    today=TODAY,
                ).id
            )
        lifecycle.close_stay(
            session,
            CHAOWEN,
            TOPIC,
            residents["庚"],
            reason="迁出",
            moved_away=True,
            moved_on=None,
            expected_version=1,
            today=TODAY,
        )
        for dwelling, code, kind in (
            (dwellings["h3"], COMPANY_CODE, "company"),
            (dwellings["h4"], SHOP_CODE, "individual_business"),
        ):
            create_enterprise(
                session,
                core.protection,
                CHAOWEN,
                TOPIC,
                EnterpriseDraft(
                    name=f"朝闻{kind}", credit_code=code, type=kind, dwelling_id=str(dwelling.id)
                ),
                verifier=STAFF,
                today=TODAY,
            )
        create_enterprise(
            session,
            core.protection,
            CHAOWEN,
            TOPIC,
            EnterpriseDraft(
                name="朝闻路边公司",
                credit_code=ROADSIDE_CODE,
                type="company",
                address="蜀山街道朝闻路8号",
                contact_name="沈经理",
                contact_phone="+86 139-0000-1111",
                employees=12,
            ),
            verifier=STAFF,
            today=TODAY,
        )
    with tenant_scope(HUSHAN), core.sessions.begin() as session:
        foreign = create_complex(session, name="湖山对照苑", address="", delivered_year=None)
    return Chaowen(
        complex_a=complex_a,
        complex_b=complex_b,
        a1=a1,
        a2=a2,
        b1=b1,
        dwelling_a2=dwellings["h3"],
        dwelling_b1=dwellings["h4"],
        residents=residents,
        foreign_complex=foreign,
    )


def stats_of(
    core: CensusCore, tenant: TenantId | str, **parts: bool
) -> tuple[Statistics, list[Statistics]]:
    asked = {"by_complex": False, "by_building": False, "street_parts": False, **parts}
    with tenant_scope(tenant), core.sessions() as session:
        return statistics(session, today=TODAY, **asked)


# --- statistics ----------------------------------------------------------------------------


def test_statistics_of_a_complex_count_current_residents_by_type_tenure_age_and_tag(
    core: CensusCore, chaowen: Chaowen
) -> None:
    _, parts = stats_of(core, CHAOWEN, by_complex=True)
    complex_a = next(p for p in parts if p.scope_id == str(chaowen.complex_a.id))

    assert complex_a == Statistics(
        scope_id=str(chaowen.complex_a.id),
        scope_name="朝闻统计苑",
        households=3,
        residents=6,  # 庚 moved away
        by_residence_type=full(RESIDENCE_TYPES, {"registered": 3, "resident": 1, "migrant": 2}),
        by_tenure=full(TENURES, {"owner": 3, "tenant": 3}),
        # Birthdays today count: 甲 is 80 and 乙 60; 丙 turns 60, 丁 7 and 戊 18 tomorrow.
        by_age_band=full(AGE_BAND_KEYS, {"0-6": 1, "7-17": 1, "35-59": 2, "60-79": 1, "80+": 1}),
        by_care_tag=full(
            CARE_TAGS,
            {
                "elderly": 2,
                "child": 2,
                "living_alone": 1,
                "party_member": 1,
                "disabled": 1,
                "veteran": 1,
            },
        ),
        enterprises=1,
    )


def test_statistics_of_the_community_cover_every_complex_and_enterprises_outside_them(
    core: CensusCore, chaowen: Chaowen
) -> None:
    total, parts = stats_of(core, CHAOWEN)

    assert parts == []
    assert (total.scope_id, total.households, total.residents) == (CHAOWEN.value, 4, 7)
    assert total.enterprises == 3  # the roadside company belongs to no complex
    assert total.by_age_band == full(
        AGE_BAND_KEYS, {"0-6": 1, "7-17": 1, "35-59": 2, "60-79": 2, "80+": 1}
    )
    assert total.by_care_tag["elderly"] == 3
    assert total.by_care_tag["key_group"] == 0


def test_statistics_per_building_name_the_building_with_its_complex(
    core: CensusCore, chaowen: Chaowen
) -> None:
    _, parts = stats_of(core, CHAOWEN, by_building=True)
    by_id = {p.scope_id: p for p in parts}

    assert [p.scope_name for p in parts] == ["朝闻企业苑1幢", "朝闻统计苑1幢", "朝闻统计苑2幢"]
    figures = {
        name: (
            by_id[str(b.id)].households,
            by_id[str(b.id)].residents,
            by_id[str(b.id)].enterprises,
        )
        for name, b in (("a1", chaowen.a1), ("a2", chaowen.a2), ("b1", chaowen.b1))
    }
    assert figures == {"a1": (2, 4, 0), "a2": (1, 2, 1), "b1": (1, 1, 1)}
    assert by_id[str(chaowen.a1.id)].by_tenure == full(TENURES, {"owner": 1, "tenant": 3})


def test_a_street_gets_one_part_per_community_adding_up_to_its_total(
    core: CensusCore, chaowen: Chaowen
) -> None:
    total, parts = stats_of(core, STREET, street_parts=True)
    chaowen_alone, _ = stats_of(core, CHAOWEN)

    assert total.scope_id == STREET
    assert {CHAOWEN.value, HUSHAN.value} <= {p.scope_id for p in parts}
    assert [p.scope_id for p in parts] == sorted(p.scope_id for p in parts)
    assert all(TenantId(p.scope_id).parent == TenantId(STREET) for p in parts)
    assert next(p for p in parts if p.scope_id == CHAOWEN.value) == chaowen_alone
    assert total.residents == sum(p.residents for p in parts)
    assert total.households == sum(p.households for p in parts)
    assert total.enterprises == sum(p.enterprises for p in parts)
    for band in AGE_BAND_KEYS:
        assert total.by_age_band[band] == sum(p.by_age_band[band] for p in parts)
    for tag in CARE_TAGS:
        assert total.by_care_tag[tag] == sum(p.by_care_tag[tag] for p in parts)
    for part in parts:  # each part is exactly what the community sees of itself
        assert stats_of(core, part.scope_id)[0] == part


def test_another_community_counts_none_of_these_residents(
    core: CensusCore, chaowen: Chaowen
) -> None:
    _, parts = stats_of(core, HUSHAN, by_complex=True)
    assert str(chaowen.complex_a.id) not in {p.scope_id for p in parts}
    assert {p.scope_id for p in parts} >= {str(chaowen.foreign_complex.id)}


# --- audiences -----------------------------------------------------------------------------


def audience(core: CensusCore, tenant: TenantId, **criteria: Any) -> list[ResidentInPlace]:
    with tenant_scope(tenant), core.sessions() as session:
        return list(residents_in_places(session, Audience(**criteria), TODAY))


def names(found: list[ResidentInPlace]) -> set[str]:
    return {r.name for r in found}


def test_an_audience_of_a_complex_is_its_current_residents_without_personal_data(
    core: CensusCore, chaowen: Chaowen
) -> None:
    found = audience(core, CHAOWEN, complex_ids=[str(chaowen.complex_a.id)])

    assert names(found) == {"甲", "乙", "丙", "丁", "戊", "己"}
    elder = next(r for r in found if r.name == "甲")
    assert str(elder.resident_id) == chaowen.residents["甲"]
    assert elder.building_id == chaowen.a1.id
    assert set(elder.care_tags) == {"elderly", "living_alone"}
    assert (elder.complex_id, elder.has_phone) == (chaowen.complex_a.id, True)
    assert set(ResidentInPlace.__dataclass_fields__) == {
        "resident_id",
        "name",
        "complex_id",
        "building_id",
        "household_id",
        "care_tags",
        "has_phone",
    }


def test_an_audience_joins_places_and_filters_by_any_tag_and_residence_type(
    core: CensusCore, chaowen: Chaowen
) -> None:
    both = audience(
        core,
        CHAOWEN,
        complex_ids=[str(chaowen.complex_a.id)],
        building_ids=[str(chaowen.b1.id)],
        care_tags=["elderly"],
    )
    young_migrants = audience(
        core,
        CHAOWEN,
        complex_ids=[str(chaowen.complex_a.id)],
        care_tags=["child", "elderly"],
        residence_types=["migrant"],
    )
    everyone = audience(core, CHAOWEN)

    assert names(both) == {"甲", "乙", "辛"}
    assert names(young_migrants) == {"丁"}
    assert names(everyone) == {"甲", "乙", "丙", "丁", "戊", "己", "辛"}
    assert [r.resident_id for r in everyone] == sorted(r.resident_id for r in everyone)


def test_an_audience_refuses_unknown_tags_and_malformed_ids(core: CensusCore) -> None:
    bad_tag = refusal(lambda: audience(core, CHAOWEN, care_tags=["elderly", "rich"]))
    bad_id = refusal(lambda: audience(core, CHAOWEN, building_ids=["3幢"]))

    assert violated_field(bad_tag) == "care_tags"
    assert violated_field(bad_id) == "building_ids[0]"


def test_another_community_reaches_none_of_these_residents(
    core: CensusCore, chaowen: Chaowen
) -> None:
    assert audience(core, HUSHAN, complex_ids=[str(chaowen.complex_a.id)]) == []


def test_households_and_residents_per_building_include_empty_ones_as_zero(
    core: CensusCore, chaowen: Chaowen
) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    asked = [str(b.id) for b in (chaowen.a1, chaowen.a2, chaowen.b1)] + [unknown]
    with tenant_scope(CHAOWEN), core.sessions() as session:
        counts = households_per_building(session, asked)
        every_building = households_per_building(session, [])
    with tenant_scope(HUSHAN), core.sessions() as session:
        from_outside = households_per_building(session, asked[:1])

    a1, a2, b1, none = chaowen.a1.id, chaowen.a2.id, chaowen.b1.id, uuid.UUID(unknown)
    assert counts.households == {a1: 2, a2: 1, b1: 1, none: 0}
    assert counts.residents == {a1: 4, a2: 2, b1: 1, none: 0}
    assert every_building.residents == {a1: 4, a2: 2, b1: 1}
    assert from_outside.households == {a1: 0}


# --- enterprises ---------------------------------------------------------------------------


def register_enterprise(core: CensusCore, tenant: TenantId, **fields: Any) -> Enterprise:
    draft: dict[str, Any] = {"name": "测试商行", "credit_code": "", "type": "company"}
    draft.update(fields)
    with tenant_scope(tenant), core.sessions.begin() as session:
        return create_enterprise(
            session,
            core.protection,
            tenant,
            TOPIC,
            EnterpriseDraft(**draft),
            verifier=STAFF,
            today=TODAY,
        )


def test_an_enterprise_in_a_dwelling_takes_its_place_and_address_and_publishes_facts(
    core: CensusCore, chaowen: Chaowen
) -> None:
    with tenant_scope(CHAOWEN), core.sessions() as session:
        (company,) = list_enterprises(
            session, Page(size=10, after=None), complex_id=str(chaowen.complex_a.id)
        )
    assert (company.credit_code, company.type) == (COMPANY_CODE, "company")
    assert (company.building_id, company.complex_id) == (chaowen.a2.id, chaowen.complex_a.id)
    assert company.address == chaowen.dwelling_a2.address
    assert (company.verified_on, company.verified_by) == (TODAY, STAFF)

    with system_scope(), core.sessions() as session:
        (payload,) = session.scalars(
            select(outbox.c.payload).where(outbox.c.aggregate_id == str(company.id))
        ).all()
    created = events_pb2.EnterpriseCreated.FromString(payload)
    assert created.tenant.tenant_id == CHAOWEN.value
    assert created.enterprise.building_id == str(chaowen.a2.id)
    assert created.enterprise.type == pb.ENTERPRISE_TYPE_COMPANY


def test_a_credit_code_is_accepted_as_typed_and_stored_canonically(core: CensusCore) -> None:
    code = credit_code("91330109MA2T3W4X5")
    typed = " ".join([code[:6].lower(), code[6:12], code[12:]])
    # Written in Hushan: 朝闻's enterprises are exactly the three the statistics count.
    created = register_enterprise(
        core, HUSHAN, name="湖山手写公司", credit_code=typed, address="湖山路1号"
    )
    assert created.credit_code == code


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        (
            COMPANY_CODE[:17] + ("0" if COMPANY_CODE[17] != "0" else "1"),
            "census.credit_code_checksum",
        ),
        (COMPANY_CODE[:16], "census.credit_code_format"),
        ("", "census.credit_code_format"),
    ],
)
def test_a_wrong_credit_code_is_refused_naming_the_field(
    core: CensusCore, typed: str, code: str
) -> None:
    error = refusal(
        lambda: register_enterprise(core, CHAOWEN, credit_code=typed, address="朝闻路2号")
    )
    assert (error.code, error.kind, violated_field(error)) == (
        code,
        ErrorKind.INVALID_INPUT,
        "credit_code",
    )


def test_a_credit_code_is_registered_once_per_community_while_the_enterprise_operates(
    core: CensusCore, chaowen: Chaowen
) -> None:
    duplicate = refusal(
        lambda: register_enterprise(core, CHAOWEN, credit_code=COMPANY_CODE, address="朝闻路3号")
    )
    assert (duplicate.kind, violated_field(duplicate)) == (ErrorKind.ALREADY_EXISTS, "credit_code")

    # The same legal entity may also have premises in another community.
    elsewhere = register_enterprise(core, HUSHAN, credit_code=COMPANY_CODE, address="湖山路3号")
    assert elsewhere.tenant_id == HUSHAN.value

    # Once closed, a successor record with the code may be registered; lists show it only.
    code = credit_code("92330109MA2U4W5X6")
    first = register_enterprise(core, HUSHAN, credit_code=code, address="湖山路4号")
    with tenant_scope(HUSHAN), core.sessions.begin() as session:
        closing = session.get(Enterprise, first.id)
        assert closing is not None
        closing.closed_on = TODAY
    again = register_enterprise(core, HUSHAN, credit_code=code, address="湖山路4号")
    with tenant_scope(HUSHAN), core.sessions() as session:
        listed = {e.id for e in list_enterprises(session, Page(size=500, after=None))}
    assert again.id in listed
    assert first.id not in listed


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"type": ""}, "type"),
        ({"type": "bank"}, "type"),
        ({"dwelling_id": "101室"}, "dwelling_id"),
        ({"dwelling_id": "00000000-0000-4000-8000-000000000000"}, "dwelling_id"),
        ({"address": ""}, "address"),
        ({"employees": -1}, "employees"),
        ({"contact_phone": "0571-82345678"}, "contact_phone"),
        ({"contact_name": "名" * 51}, "contact_name"),
    ],
)
def test_an_invalid_enterprise_is_refused_naming_the_field(
    core: CensusCore, fields: dict[str, Any], field: str
) -> None:
    given = {"credit_code": credit_code("91330109MA2W5X6Y7"), "address": "朝闻路5号", **fields}
    error = refusal(lambda: register_enterprise(core, CHAOWEN, **given))
    assert (error.kind, violated_field(error)) == (ErrorKind.INVALID_INPUT, field)


def test_an_enterprise_contact_phone_is_stored_only_encrypted(
    core: CensusCore, infra: LocalInfrastructure, chaowen: Chaowen
) -> None:
    with tenant_scope(CHAOWEN), core.sessions() as session:
        roadside = session.scalars(
            select(Enterprise).where(Enterprise.credit_code == ROADSIDE_CODE)
        ).one()
    assert contact_phone_of(core.protection, roadside) == "13900001111"
    with psycopg.connect(infra.postgres.superuser_dsn("census")) as connection:
        row = connection.execute(
            "SELECT contact_phone_cipher, contact_name FROM enterprise WHERE id = %s",
            (roadside.id,),
        ).fetchone()
    assert row is not None
    assert b"13900001111" not in bytes(row[0])
    assert row[1] == "沈经理"


def test_enterprises_are_listed_by_name_page_by_page_and_filtered_by_type(
    core: CensusCore, chaowen: Chaowen
) -> None:
    with tenant_scope(CHAOWEN), core.sessions() as session:
        shops = list_enterprises(
            session, Page(size=10, after=None), enterprise_type="individual_business"
        )
        every = list_enterprises(session, Page(size=500, after=None))
        paged: list[Enterprise] = []
        page = Page(size=2, after=None)
        while True:
            found = list_enterprises(session, page)
            paged += found[: page.size]
            if len(found) <= page.size:
                break
            last = found[page.size - 1]
            page = Page(size=2, after=[last.name, str(last.id)])

    assert SHOP_CODE in {e.credit_code for e in shops}
    assert {e.type for e in shops} == {"individual_business"}
    assert [e.id for e in paged] == [e.id for e in every]
    assert [e.name for e in every] == sorted(e.name for e in every)


def test_another_community_sees_none_of_these_enterprises(
    core: CensusCore, infra: LocalInfrastructure, chaowen: Chaowen
) -> None:
    with tenant_scope(HUSHAN), core.sessions() as session:
        seen = list_enterprises(session, Page(size=500, after=None))
    assert all(e.tenant_id == HUSHAN.value for e in seen)
    assert ROADSIDE_CODE not in {e.credit_code for e in seen}
    with psycopg.connect(infra.postgres.dsn("census")) as connection:
        # Without the tenant setting, row-level security shows nothing.
        for table in ("enterprise", "organization", "organization_complex"):
            assert connection.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


# --- organisations -------------------------------------------------------------------------


def register_organization(core: CensusCore, tenant: TenantId, **fields: Any) -> Any:
    with tenant_scope(tenant), core.sessions.begin() as session:
        return create_organization(
            session,
            core.protection,
            tenant,
            OrganizationDraft(**fields),
            verifier=STAFF,
            today=TODAY,
        )


@pytest.fixture(scope="module")
def organizations(core: CensusCore, chaowen: Chaowen) -> None:
    a, b = str(chaowen.complex_a.id), str(chaowen.complex_b.id)
    register_organization(
        core, CHAOWEN, kind="owners_committee", name="朝闻统计苑业委会", complex_ids=(a, a)
    )
    register_organization(
        core,
        CHAOWEN,
        kind="property_company",
        name="朝闻物业",
        complex_ids=(b, a),
        contact_name="周经理",
        contact_phone="13800003333",
    )
    register_organization(core, CHAOWEN, kind="party_branch", name="朝闻社区党支部")


def test_organisations_keep_the_complexes_they_serve(
    core: CensusCore, chaowen: Chaowen, organizations: None
) -> None:
    with tenant_scope(CHAOWEN), core.sessions() as session:
        found = {o.name: o for o in list_organizations(session, Page(size=50, after=None))}

    assert found["朝闻统计苑业委会"].complex_ids == [chaowen.complex_a.id]  # named twice, kept once
    assert found["朝闻物业"].complex_ids == sorted([chaowen.complex_a.id, chaowen.complex_b.id])
    assert found["朝闻社区党支部"].complex_ids == []  # the whole community
    assert contact_phone_of(core.protection, found["朝闻物业"]) == "13800003333"
    assert found["朝闻社区党支部"].contact_phone_cipher is None


def test_organisations_are_listed_by_kind(core: CensusCore, organizations: None) -> None:
    with tenant_scope(CHAOWEN), core.sessions() as session:
        companies = list_organizations(session, Page(size=50, after=None), kind="property_company")
        wrong = refusal(lambda: list_organizations(session, Page(size=50, after=None), kind="club"))
    assert [o.name for o in companies] == ["朝闻物业"]
    assert violated_field(wrong) == "kind"


def test_an_organisation_serves_only_complexes_of_its_community(
    core: CensusCore, chaowen: Chaowen, organizations: None
) -> None:
    foreign = refusal(
        lambda: register_organization(
            core,
            CHAOWEN,
            kind="volunteer_team",
            name="朝闻志愿者队",
            complex_ids=(str(chaowen.complex_a.id), str(chaowen.foreign_complex.id)),
        )
    )
    malformed = refusal(
        lambda: register_organization(
            core, CHAOWEN, kind="volunteer_team", name="朝闻志愿者队", complex_ids=("晴庐",)
        )
    )
    assert (foreign.kind, violated_field(foreign)) == (ErrorKind.INVALID_INPUT, "complex_ids[1]")
    assert violated_field(malformed) == "complex_ids[0]"


def test_an_organisation_name_is_unique_in_a_community(
    core: CensusCore, organizations: None
) -> None:
    duplicate = refusal(
        lambda: register_organization(core, CHAOWEN, kind="party_branch", name="朝闻社区党支部")
    )
    assert (duplicate.kind, violated_field(duplicate)) == (ErrorKind.ALREADY_EXISTS, "name")
    bad_kind = refusal(lambda: register_organization(core, CHAOWEN, kind="", name="无类型组织"))
    assert violated_field(bad_kind) == "kind"


def test_another_community_sees_none_of_these_organisations(
    core: CensusCore, organizations: None
) -> None:
    with tenant_scope(HUSHAN), core.sessions() as session:
        seen = list_organizations(session, Page(size=500, after=None))
    assert all(o.tenant_id == HUSHAN.value for o in seen)
