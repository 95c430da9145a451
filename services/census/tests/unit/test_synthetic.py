import functools
import hashlib
import os
import subprocess
import sys
from collections import Counter
from datetime import date
from typing import Any

import pytest

from census.identity.codes import (
    AGE_BANDS,
    Sex,
    age_band,
    age_on,
    parse_credit_code,
    parse_id_number,
    parse_mobile,
)
from census.synthetic import (
    DEFAULT_MIGRANT_SHARE,
    DEFAULT_RESIDENTS_PER_HOUSEHOLD,
    DEMO_SIZES,
    SyntheticCommunity,
    demo_community,
    generate_community,
    iter_households,
    iter_residents,
)
from census.vocabulary import CareTag, OrganisationKind, Relation, ResidenceType, Tenure

TODAY = date(2025, 6, 1)
SHIBEI = "xiaoshan.beigan.shibei"
HUSHAN = "xiaoshan.shushan.hushan"


@functools.cache
def shibei() -> SyntheticCommunity:
    """The Shibei demo community, built once: most tests read it, none change it (frozen)."""
    return demo_community(SHIBEI, today=TODAY)


def a_community(
    *,
    seed: int = 7,
    households: int = 300,
    tenant_id: str = HUSHAN,
    complexes: list[str] | None = None,
    migrant_share: float = DEFAULT_MIGRANT_SHARE,
    residents_per_household: float = DEFAULT_RESIDENTS_PER_HOUSEHOLD,
) -> SyntheticCommunity:
    return generate_community(
        tenant_id=tenant_id,
        seed=seed,
        households=households,
        complexes=complexes,
        migrant_share=migrant_share,
        residents_per_household=residents_per_household,
        today=TODAY,
    )


def ages(community: SyntheticCommunity) -> dict[str, int]:
    return {r.key: age_on(r.birth_date, TODAY) for r in community.residents}


# --- Valid codes ------------------------------------------------------------------------------


def test_every_id_number_is_valid_and_agrees_with_sex_and_birth_date() -> None:
    for resident in shibei().residents:
        parsed = parse_id_number(resident.id_number, today=TODAY)
        assert parsed.number == resident.id_number
        assert parsed.birth_date == resident.birth_date
        assert parsed.sex is resident.sex


def test_id_numbers_are_unique_within_a_community() -> None:
    numbers = [r.id_number for r in shibei().residents]
    assert len(set(numbers)) == len(numbers)


def test_communities_generated_with_different_seeds_share_no_id_number() -> None:
    first = a_community(seed=1, households=800)
    second = a_community(seed=2, households=800)
    assert not {r.id_number for r in first.residents} & {r.id_number for r in second.residents}


def test_registered_residents_carry_xiaoshan_codes_of_their_time_and_migrants_others() -> None:
    xiaoshan = {"330121", "330181", "330109"}  # county, city, district: the code changed twice
    codes = {
        (r.residence_type is ResidenceType.REGISTERED, r.id_number[:6]) for r in shibei().residents
    }
    assert xiaoshan <= {code for registered, code in codes if registered}
    assert not {code for registered, code in codes if not registered} & xiaoshan


def test_every_credit_code_is_valid_and_unique() -> None:
    codes = [e.credit_code for e in shibei().enterprises]
    assert [parse_credit_code(code) for code in codes] == codes
    assert len(set(codes)) == len(codes)


def test_every_phone_is_a_valid_mobile_and_residents_do_not_share_one() -> None:
    community = shibei()
    resident_phones = [r.phone for r in community.residents if r.phone is not None]
    contact_phones = [e.contact_phone for e in community.enterprises] + [
        o.contact_phone for o in community.organisations
    ]
    for phone in resident_phones + contact_phones:
        assert parse_mobile(phone) == phone
    assert len(set(resident_phones)) == len(resident_phones)


# --- Deterministic --------------------------------------------------------------------------


def test_the_same_arguments_give_the_identical_community() -> None:
    assert a_community(seed=5) == a_community(seed=5)


def test_a_different_seed_gives_different_people() -> None:
    first, second = a_community(seed=5), a_community(seed=6)
    assert [r.name for r in first.residents] != [r.name for r in second.residents]
    assert {r.id_number for r in first.residents}.isdisjoint(r.id_number for r in second.residents)


def test_a_different_tenant_with_the_same_seed_gives_different_people() -> None:
    hushan = a_community(seed=5, tenant_id=HUSHAN)
    xiushui = a_community(seed=5, tenant_id="xiaoshan.shushan.xiushui")
    assert [r.name for r in hushan.residents] != [r.name for r in xiushui.residents]


def test_another_python_process_generates_the_same_community() -> None:
    # Guards against what varies between runs: str hashes (and with them set order), the clock.
    script = (
        "import hashlib; from datetime import date; from census.synthetic import "
        "generate_community as g; c = g(tenant_id='xiaoshan.shushan.hushan', seed=5, "
        "households=300, today=date(2025, 6, 1)); "
        "print(hashlib.sha256(repr(c).encode()).hexdigest())"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True
    )
    here = hashlib.sha256(repr(a_community(seed=5)).encode()).hexdigest()
    assert other.stdout.strip() == here


def test_streaming_yields_exactly_the_households_and_residents_of_the_community() -> None:
    community = a_community(seed=9)
    streamed = list(iter_households(tenant_id=HUSHAN, seed=9, households=300, today=TODAY))
    assert tuple(household for household, _ in streamed) == community.households
    residents = tuple(iter_residents(tenant_id=HUSHAN, seed=9, households=300, today=TODAY))
    assert residents == community.residents


# --- The seeds' numbers ---------------------------------------------------------------------


def test_shibei_preset_has_its_households_about_ten_thousand_residents_and_four_complexes() -> None:
    community = shibei()
    assert len(community.households) == 4223
    assert 9_500 <= len(community.residents) <= 10_500
    assert community.name == "市北社区"
    assert [c.name for c in community.complexes] == ["晴庐", "望海潮", "汇雅轩", "和雅轩"]
    assert all(c.delivered_year >= 2016 for c in community.complexes)


def test_shibei_is_mostly_migrant_with_about_its_registered_count() -> None:
    registered = sum(r.residence_type is ResidenceType.REGISTERED for r in shibei().residents)
    assert 2_824 * 0.85 <= registered <= 2_824 * 1.15


def test_demo_sizes_cover_the_active_demo_communities_with_distinct_seeds() -> None:
    assert set(DEMO_SIZES) == {
        SHIBEI,
        HUSHAN,
        "xiaoshan.shushan.xiangyuan",
        "xiaoshan.shushan.xiushui",
        "xiaoshan.shushan.guangning",
        "xiaoshan.shushan.shanshuiyuan",
    }
    assert DEMO_SIZES["xiaoshan.shushan.xiangyuan"].migrant_share == 0.65
    seeds = [size.seed % 100 for size in DEMO_SIZES.values()]
    assert len(set(seeds)) == len(seeds)  # so no two demo communities share an ID number


@pytest.mark.parametrize("share", [0.2, 0.65])
def test_the_share_of_residents_registered_elsewhere_follows_the_parameter(share: float) -> None:
    community = a_community(households=2000, migrant_share=share)
    elsewhere = sum(r.residence_type is not ResidenceType.REGISTERED for r in community.residents)
    assert elsewhere / len(community.residents) == pytest.approx(share, abs=0.04)


def test_household_sizes_run_from_one_to_six_around_the_requested_mean() -> None:
    community = a_community(households=2000, residents_per_household=2.9)
    sizes = Counter(r.household_key for r in community.residents)
    assert set(sizes.values()) == {1, 2, 3, 4, 5, 6}
    assert len(community.residents) / len(community.households) == pytest.approx(2.9, abs=0.1)


def test_xiangyuan_gets_the_two_complexes_the_seeds_name() -> None:
    xiangyuan = a_community(tenant_id="xiaoshan.shushan.xiangyuan", households=50)
    assert [c.name for c in xiangyuan.complexes] == ["北辰奥园", "卧城印象"]


def test_other_communities_get_four_generated_complexes_unless_named() -> None:
    generated = a_community()
    assert len({c.name for c in generated.complexes}) == 4
    named = a_community(complexes=["北辰奥园", "卧城印象"])
    assert [c.name for c in named.complexes] == ["北辰奥园", "卧城印象"]


# --- Households and people -------------------------------------------------------------------


def test_every_household_has_exactly_one_head_and_the_head_is_an_adult() -> None:
    community = shibei()
    age = ages(community)
    heads = Counter(
        r.household_key for r in community.residents if r.relation_to_head is Relation.SELF
    )
    assert set(heads.values()) == {1}
    by_key = {r.key: r for r in community.residents}
    for household in community.households:
        head = by_key[household.head_resident_key]
        assert head.household_key == household.key
        assert head.relation_to_head is Relation.SELF
        assert age[head.key] >= 18


def test_children_have_no_phone_and_adults_under_eighty_have_one() -> None:
    community = shibei()
    age = ages(community)
    for resident in community.residents:
        if age[resident.key] < 18:
            assert resident.phone is None
        elif age[resident.key] < 80:
            assert resident.phone is not None


def test_elderly_tag_marks_exactly_those_sixty_and_over_and_child_tag_those_under_18() -> None:
    community = shibei()
    age = ages(community)
    for resident in community.residents:
        assert (CareTag.ELDERLY in resident.care_tags) == (age[resident.key] >= 60)
        assert (CareTag.CHILD in resident.care_tags) == (age[resident.key] < 18)


def test_living_alone_marks_the_elderly_who_are_alone_in_their_household() -> None:
    community = shibei()
    sizes = Counter(r.household_key for r in community.residents)
    for resident in community.residents:
        alone_and_old = sizes[resident.household_key] == 1 and CareTag.ELDERLY in resident.care_tags
        assert (CareTag.LIVING_ALONE in resident.care_tags) == alone_and_old


def test_care_tags_occur_at_plausible_rates() -> None:
    residents = shibei().residents
    rates = {tag: sum(tag in r.care_tags for r in residents) / len(residents) for tag in CareTag}
    assert 0.08 <= rates[CareTag.ELDERLY] <= 0.30
    assert 0.08 <= rates[CareTag.CHILD] <= 0.25
    assert 0.01 <= rates[CareTag.DISABLED] <= 0.08
    for rare in (CareTag.PARTY_MEMBER, CareTag.VETERAN, CareTag.KEY_GROUP, CareTag.LIVING_ALONE):
        assert 0 < rates[rare] <= 0.05


def test_ages_span_every_statistics_band() -> None:
    bands = Counter(age_band(age).key for age in ages(shibei()).values())
    assert set(bands) == {band.key for band in AGE_BANDS}


def test_spouses_are_of_the_other_sex_and_children_carry_a_parents_surname() -> None:
    by_household: dict[str, list[str]] = {}
    community = a_community(households=1000)
    for resident in community.residents:
        by_household.setdefault(resident.household_key, []).append(resident.key)
    by_key = {r.key: r for r in community.residents}
    for keys in by_household.values():
        members = [by_key[key] for key in keys]
        head = members[0]
        spouses = [m for m in members if m.relation_to_head is Relation.SPOUSE]
        for spouse in spouses:
            assert spouse.sex is not head.sex
        parent_surnames = {m.name[0] for m in [head, *spouses]}
        for child in (m for m in members if m.relation_to_head is Relation.CHILD):
            assert child.name[0] in parent_surnames


def test_residence_type_follows_tenure_for_people_registered_elsewhere() -> None:
    community = shibei()
    tenure = {h.key: h.tenure for h in community.households}
    for resident in community.residents:
        if resident.residence_type is ResidenceType.RESIDENT:
            assert tenure[resident.household_key] is Tenure.OWNER
        elif resident.residence_type is ResidenceType.MIGRANT:
            assert tenure[resident.household_key] is Tenure.TENANT


def test_move_in_is_after_birth_and_delivery_and_not_after_today() -> None:
    community = shibei()
    for resident in community.residents:
        assert resident.birth_date <= resident.moved_in_on <= TODAY
    assert min(r.moved_in_on.year for r in community.residents) >= 2016


def test_both_sexes_are_present_in_similar_numbers() -> None:
    sexes = Counter(r.sex for r in shibei().residents)
    assert sexes[Sex.MALE] / sexes.total() == pytest.approx(0.5, abs=0.06)


# --- Places, enterprises, organisations -------------------------------------------------------


def test_places_form_one_tree_and_each_household_has_its_own_dwelling() -> None:
    community = shibei()
    complexes = {c.key: c for c in community.complexes}
    buildings = {b.key: b for b in community.buildings}
    units = {u.key: u for u in community.units}
    dwellings = {d.key: d for d in community.dwellings}
    for dwelling in community.dwellings:
        unit = units[dwelling.unit_key]
        building = buildings[unit.building_key]
        complex_ = complexes[building.complex_key]
        expected = f"{complex_.name}{building.number}{unit.number}{dwelling.room}室"
        assert dwelling.address == f"北干街道{expected}"
        assert int(dwelling.room[:-2]) <= building.floors
    occupied = [h.dwelling_key for h in community.households]
    assert len(set(occupied)) == len(occupied)
    assert set(occupied) <= set(dwellings)
    assert len(dwellings) > len(occupied)  # some flats stand empty


def test_enterprises_have_names_contacts_and_employees() -> None:
    enterprises = shibei().enterprises
    names = {e.name for e in enterprises}
    assert {"开发区医院", "兴达市政", "邮电大楼"} <= names
    assert len(names) == len(enterprises)
    assert all(e.employees >= 1 and e.contact_name and e.address for e in enterprises)
    assert len({e.type for e in enterprises}) == 4


def test_every_complex_has_a_property_company_and_wanghaichao_no_owners_committee() -> None:
    community = shibei()
    by_kind = Counter((o.kind, o.complex_key) for o in community.organisations)
    for complex_ in community.complexes:
        assert by_kind[(OrganisationKind.PROPERTY_COMPANY, complex_.key)] == 1
    wanghaichao = next(c.key for c in community.complexes if c.name == "望海潮")
    assert by_kind[(OrganisationKind.OWNERS_COMMITTEE, wanghaichao)] == 0
    assert by_kind[(OrganisationKind.PARTY_BRANCH, None)] == 1


@pytest.mark.parametrize(
    "options",
    [
        {"households": -1},
        {"migrant_share": 1.5},
        {"residents_per_household": 7.0},
        {"complexes": []},
    ],
)
def test_impossible_arguments_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        a_community(**options)
