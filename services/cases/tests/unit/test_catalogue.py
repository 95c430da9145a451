"""The category catalogue: the default classes are complete and valid, bad definitions are
refused naming the field, and a tenant's own class beats its street's, which beats its
district's, which beats the seeded default (no infrastructure)."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Any

import pytest

from cases.catalogue import (
    ANTI_FRAUD,
    DEFAULT_CATALOGUE,
    MAJORS,
    PETITION,
    STAIRWELL_CLUTTER,
    CategoryDef,
    EffectiveCategory,
    Origin,
    StoredCategory,
    effective_catalogue,
    effective_category,
    seed_rows,
    validate,
)
from cases.lifecycle import Level
from cases.sla import DeadlineUnit
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.tenancy import TenantId

DISTRICT = TenantId("xiaoshan")
STREET = TenantId("xiaoshan.shushan")
HUSHAN = TenantId("xiaoshan.shushan.hushan")
HUIYA = TenantId("xiaoshan.shushan.huiya")  # a sibling community of the same street
OTHER_STREET = TenantId("xiaoshan.beigan")

BUILT_IN = {d.code: d for d in DEFAULT_CATALOGUE}
LITTER = "0101"


def a_class(code: str = LITTER, **changes: Any) -> CategoryDef:
    """A default class with some fields changed (the built-in one when the code is default)."""
    base = BUILT_IN.get(code, BUILT_IN[LITTER])
    return dataclasses.replace(base, code=code, **changes)


def row(
    tenant: TenantId,
    code: str = LITTER,
    *,
    origin: Origin = Origin.CUSTOM,
    version: int = 1,
    **changes: Any,
) -> StoredCategory:
    return StoredCategory(tenant.value, a_class(code, **changes), origin, version)


def in_force(tenant: TenantId, rows: list[StoredCategory], code: str = LITTER) -> EffectiveCategory:
    found = effective_category(tenant, rows, code)
    assert found is not None, f"{code} is not in force for {tenant}"
    return found


def codes(found: list[EffectiveCategory]) -> list[str]:
    return [c.definition.code for c in found]


def refused_fields(definition: CategoryDef, **kwargs: Any) -> list[str]:
    with pytest.raises(DomainError) as caught:
        validate(definition, **kwargs)
    error = caught.value
    assert error.code == "cases.category_invalid"
    assert error.kind is ErrorKind.INVALID_INPUT
    assert re.search(r"[\u4e00-\u9fff]", error.message_zh), "the Chinese message comes first"
    assert error.message_en
    return [v.field for v in error.field_violations]


# ---- the default catalogue ----


def test_default_codes_are_unique_four_digit_codes() -> None:
    all_codes = [d.code for d in DEFAULT_CATALOGUE]
    assert len(all_codes) == len(set(all_codes))
    for code in all_codes:
        assert re.fullmatch(r"[0-9]{4}", code), code
        assert code[2:] != "00", code


def test_every_major_class_has_between_three_and_eight_minor_classes() -> None:
    per_major = Counter(d.major_code for d in DEFAULT_CATALOGUE)
    assert set(per_major) == set(MAJORS)
    assert all(3 <= n <= 8 for n in per_major.values()), per_major


def test_the_event_majors_of_gb_t_30428_and_the_community_majors_are_named() -> None:
    assert [MAJORS[c] for c in ("01", "02", "03", "04", "05")] == [
        "市容环境",
        "宣传广告",
        "施工管理",
        "突发事件",
        "街面秩序",
    ]
    assert [MAJORS[c] for c in ("06", "07", "08", "09", "10")] == [
        "矛盾纠纷",
        "信访",
        "物业",
        "反诈",
        "为民服务",
    ]


@pytest.mark.parametrize("definition", DEFAULT_CATALOGUE, ids=lambda d: d.code)
def test_every_default_class_is_valid_as_it_stands(definition: CategoryDef) -> None:
    assert definition.acceptance_standard.strip()
    assert definition.closing_standard.strip()
    assert definition.major_name == MAJORS[definition.major_code]
    assert validate(definition) == definition


def test_the_classes_the_seeds_talk_about_are_in_the_catalogue() -> None:
    names = {d.name for d in DEFAULT_CATALOGUE}
    for name in (
        "楼道堆积物",
        "更换物业",
        "物业服务纠纷",
        "加装电梯费用分摊纠纷",
        "成立业主委员会",
        "绿化养护",
        "电信网络诈骗预警",
        "信访事项",
    ):
        assert name in names


def test_stairwell_clutter_is_counted_in_working_days() -> None:
    clutter = in_force(HUSHAN, [], STAIRWELL_CLUTTER).definition
    assert clutter.name == "楼道堆积物"
    assert clutter.major_code in {"01", "08"}
    assert clutter.deadline_unit is DeadlineUnit.WORKING_DAYS
    assert clutter.responsible_level is Level.MICRO_GRID


def test_a_fraud_warning_is_urgent_and_answered_within_hours() -> None:
    fraud = BUILT_IN[ANTI_FRAUD]
    assert fraud.major_name == "反诈"
    assert fraud.urgent
    assert fraud.deadline_unit is DeadlineUnit.WORKING_HOURS


def test_a_petition_is_answered_by_the_community() -> None:
    petition = BUILT_IN[PETITION]
    assert petition.major_name == "信访"
    assert petition.responsible_level is Level.COMMUNITY
    # Well inside the 60 days 《信访工作条例》 allows after acceptance.
    assert petition.deadline_unit is DeadlineUnit.WORKING_DAYS
    assert petition.deadline_amount <= 20


def test_urgent_classes_are_counted_in_working_hours() -> None:
    urgent = [d for d in DEFAULT_CATALOGUE if d.urgent]
    assert {d.major_code for d in urgent} >= {"04", "09"}
    assert all(d.deadline_unit is DeadlineUnit.WORKING_HOURS for d in urgent)


def test_most_classes_start_in_the_building_and_disputes_do_not() -> None:
    levels = Counter(d.responsible_level for d in DEFAULT_CATALOGUE)
    assert levels.most_common(1)[0][0] is Level.MICRO_GRID
    disputes = [d for d in DEFAULT_CATALOGUE if d.major_code == "06"]
    assert all(d.responsible_level is not Level.MICRO_GRID for d in disputes)
    assert any(d.responsible_level is Level.STREET for d in DEFAULT_CATALOGUE)


def test_seed_rows_are_the_default_catalogue() -> None:
    assert seed_rows() == list(DEFAULT_CATALOGUE)


def test_seed_rows_refuse_a_broken_catalogue() -> None:
    with pytest.raises(DomainError):
        seed_rows([a_class("0199"), a_class("0198", closing_standard=" ")])


# ---- validation ----


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "101"}, "category.code"),
        ({"code": "01011"}, "category.code"),
        ({"code": "01a1"}, "category.code"),
        ({"code": "０１０１"}, "category.code"),  # full-width digits
        ({"code": "0100"}, "category.code"),  # minor 00
        ({"code": "0001"}, "category.code"),  # major 00
        ({"name": ""}, "category.name"),
        ({"name": "   "}, "category.name"),
        ({"name": "垃" * 41}, "category.name"),
        ({"name": "暴露\n垃圾"}, "category.name"),
        ({"acceptance_standard": ""}, "category.acceptance_standard"),
        ({"acceptance_standard": "立" * 501}, "category.acceptance_standard"),
        ({"closing_standard": " \n "}, "category.closing_standard"),
        ({"closing_standard": "结" * 501}, "category.closing_standard"),
        ({"deadline_amount": 0}, "category.deadline_amount"),
        ({"deadline_amount": -2}, "category.deadline_amount"),
        (
            {"deadline_amount": 1000, "deadline_unit": DeadlineUnit.WORKING_HOURS},
            "category.deadline_amount",
        ),
        (
            {"deadline_amount": 181, "deadline_unit": DeadlineUnit.WORKING_DAYS},
            "category.deadline_amount",
        ),
        ({"code": "1101", "major_name": ""}, "category.major_name"),
        ({"code": "1101", "major_name": "类" * 21}, "category.major_name"),
        ({"code": "0101", "major_name": "环境卫生"}, "category.major_name"),
    ],
)
def test_validate_refuses_a_bad_field_naming_it(changes: dict[str, Any], field: str) -> None:
    assert refused_fields(a_class(**changes)) == [field]


def test_validate_names_every_wrong_field_at_once() -> None:
    fields = refused_fields(a_class(name="", closing_standard="", deadline_amount=0))
    assert fields == ["category.name", "category.closing_standard", "category.deadline_amount"]


def test_validate_strips_texts_and_fills_the_default_major_name() -> None:
    given = a_class(
        code=" 0199 ",
        name=" 共享单车堆积 ",
        acceptance_standard="\t小区出入口堆积共享单车超过10辆\n",
        closing_standard=" 车辆清运，出入口畅通 ",
        major_name="",
    )
    assert validate(given) == dataclasses.replace(
        given,
        code="0199",
        name="共享单车堆积",
        acceptance_standard="小区出入口堆积共享单车超过10辆",
        closing_standard="车辆清运，出入口畅通",
        major_name="市容环境",
    )


@pytest.mark.parametrize(
    ("amount", "unit"),
    [
        (1, DeadlineUnit.WORKING_HOURS),
        (999, DeadlineUnit.WORKING_HOURS),
        (1, DeadlineUnit.WORKING_DAYS),
        (180, DeadlineUnit.WORKING_DAYS),
    ],
)
def test_deadlines_at_the_limits_are_accepted(amount: int, unit: DeadlineUnit) -> None:
    assert validate(a_class(deadline_amount=amount, deadline_unit=unit)).deadline_amount == amount


def test_a_new_major_class_is_accepted_with_its_name() -> None:
    checked = validate(a_class("1101", major_name=" 垃圾分类 "))
    assert (checked.major_code, checked.major_name) == ("11", "垃圾分类")


def test_a_major_the_tenant_already_opened_needs_no_name_again() -> None:
    own_majors = {**MAJORS, "11": "垃圾分类"}
    checked = validate(a_class("1102", major_name=""), known_majors=own_majors)
    assert checked.major_name == "垃圾分类"
    assert refused_fields(a_class("1102", major_name="垃圾"), known_majors=own_majors) == [
        "category.major_name"
    ]


# ---- the definition in force ----


def test_a_tenant_without_rows_has_the_whole_default_catalogue() -> None:
    found = effective_catalogue(HUSHAN, [])
    assert codes(found) == sorted(BUILT_IN)
    assert {(c.defined_by, c.version) for c in found} == {("default", 0)}
    assert [c.definition for c in found] == sorted(DEFAULT_CATALOGUE, key=lambda d: d.code)


def test_own_class_beats_street_beats_district_beats_own_default_beats_built_in() -> None:
    own_custom = row(HUSHAN, name="本社区的定义", version=4)
    street = row(STREET, name="街道的定义")
    district = row(DISTRICT, name="区的定义")
    own_default = row(HUSHAN, name="种子里的定义", origin=Origin.DEFAULT, version=2)

    assert in_force(HUSHAN, [district, street, own_custom]).definition.name == "本社区的定义"
    assert in_force(HUSHAN, [own_default, district, street]).defined_by == STREET.value
    assert in_force(HUSHAN, [own_default, district]).definition.name == "区的定义"
    assert in_force(HUSHAN, [own_default, district]).defined_by == DISTRICT.value
    assert in_force(HUSHAN, [own_default]).definition.name == "种子里的定义"
    assert in_force(HUSHAN, [own_default]).defined_by == "default"
    assert in_force(HUSHAN, []).definition == BUILT_IN[LITTER]


def test_a_class_only_the_street_defines_is_inherited_by_its_communities() -> None:
    charging = row(STREET, "0411", name="电动自行车集中充电点故障", major_name="")
    for community in (HUSHAN, HUIYA):
        found = in_force(community, [charging], "0411")
        assert (found.defined_by, found.version) == (STREET.value, 0)
        assert found.definition.major_name == "突发事件"
    assert "0411" in codes(effective_catalogue(STREET, [charging]))
    assert "0411" not in codes(effective_catalogue(OTHER_STREET.child("xinjie"), [charging]))


def test_a_communitys_disabled_class_is_hidden_even_if_the_street_enables_it() -> None:
    rows = [row(STREET, "0107", name="文明养犬"), row(HUSHAN, "0107", enabled=False, version=2)]
    assert "0107" not in codes(effective_catalogue(HUSHAN, rows))
    shown = in_force(HUSHAN, rows, "0107")
    assert (shown.definition.enabled, shown.defined_by, shown.version) == (
        False,
        HUSHAN.value,
        2,
    )
    assert "0107" in codes(effective_catalogue(HUSHAN, rows, include_disabled=True))
    assert "0107" in codes(effective_catalogue(HUIYA, rows))


def test_a_class_the_street_disables_is_hidden_until_a_community_enables_it() -> None:
    street_off = row(STREET, "0204", enabled=False)
    assert "0204" not in codes(effective_catalogue(HUIYA, [street_off]))
    hushan_on = row(HUSHAN, "0204", enabled=True, version=3)
    assert "0204" in codes(effective_catalogue(HUSHAN, [street_off, hushan_on]))


def test_rows_of_a_sibling_or_another_street_are_ignored() -> None:
    rows = [
        row(HUIYA, name="汇雅轩的定义"),
        row(HUIYA, "0199", name="汇雅轩自设类别"),
        row(OTHER_STREET, name="别的街道的定义"),
        row(OTHER_STREET, "0198", name="别的街道自设类别"),
    ]
    found = effective_catalogue(HUSHAN, rows)
    assert codes(found) == sorted(BUILT_IN)
    assert in_force(HUSHAN, rows).definition == BUILT_IN[LITTER]


def test_a_street_does_not_take_its_communities_classes() -> None:
    rows = [row(HUSHAN, name="社区的定义"), row(HUSHAN, "0199", name="社区自设类别")]
    assert in_force(STREET, rows).definition == BUILT_IN[LITTER]
    assert "0199" not in codes(effective_catalogue(STREET, rows))


def test_an_ancestors_seeded_copy_does_not_override_the_communitys() -> None:
    street_seed = row(STREET, name="街道种子", origin=Origin.DEFAULT)
    assert in_force(HUSHAN, [street_seed]).definition == BUILT_IN[LITTER]


def test_version_is_always_the_asking_tenants_own_row() -> None:
    street = row(STREET, name="街道的定义", version=7)
    own_default = row(HUSHAN, origin=Origin.DEFAULT, version=2)
    inherited = in_force(HUSHAN, [street, own_default])
    # The street's text is in force, but an edit must name the community's own row version.
    assert (inherited.definition.name, inherited.version) == ("街道的定义", 2)
    assert in_force(HUSHAN, [street]).version == 0
    assert in_force(HUSHAN, [own_default]).version == 2
    assert in_force(HUSHAN, [row(HUSHAN, version=5)]).version == 5
    assert in_force(STREET, [street]).version == 7


def test_the_catalogue_in_force_is_sorted_by_code() -> None:
    rows = [row(HUSHAN, "1099", name="社区新增"), row(STREET, "0199", name="街道新增")]
    found = codes(effective_catalogue(HUSHAN, list(reversed(rows))))
    assert found == sorted(found)
    assert {"1099", "0199"} <= set(found)


def test_an_unknown_code_is_not_in_force() -> None:
    assert effective_category(HUSHAN, [], "9999") is None
