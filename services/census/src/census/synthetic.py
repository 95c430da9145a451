"""Synthetic but valid census data: a whole community from a seed, with no database.

For `make run` (the demo tenants of DOMAIN.md), tests and benchmarks. Everything is drawn from
``random.Random`` instances seeded with the tenant id, the seed and a purpose, so the same
arguments give the same community on every machine and Python run; ``today`` is a parameter
because ages, care tags and move-in dates depend on it.

The people are plausible, not real: common surnames and given-name characters combined at
random; ID numbers are valid GB 11643 numbers (real-looking county codes, birth date and sex
agreeing with the resident) and credit codes valid GB 32100 codes, but neither was issued to
anyone. ID numbers are unique within a community, and communities generated with seeds that
differ modulo 100 never share one: the seed fills the first two of the three sequence digits.

Shapes follow the seeds where they say something (DOMAIN.md, "Census"): household and resident
counts, Shibei's four complexes delivered after 2016 and its institutions, Xiangyuan's two
complexes and 65% migrants. Elsewhere they follow national figures (household sizes of the 2020
census, disability and veteran rates) scaled to look like a city community.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Generic, NamedTuple, TypeVar

from census.identity.codes import (
    ADULT_AGE,
    ELDERLY_AGE,
    OLDEST_OLD_AGE,
    Sex,
    age_on,
    credit_check_character,
    id_check_character,
)
from census.vocabulary import (
    CareTag,
    EnterpriseType,
    OrganisationKind,
    Relation,
    ResidenceType,
    Tenure,
)

# --- What is generated -----------------------------------------------------------------------
# The enums mirror proto/shequ/census/v1/census.proto (values are the enum names without
# prefix, lower-case), so seeding code maps them one to one.


@dataclass(frozen=True, slots=True)
class Complex:
    key: str
    name: str
    address: str
    delivered_year: int


@dataclass(frozen=True, slots=True)
class Building:
    key: str
    complex_key: str
    number: str  # "3幢"
    floors: int


@dataclass(frozen=True, slots=True)
class Unit:
    key: str
    building_key: str
    number: str  # "1单元"


@dataclass(frozen=True, slots=True)
class Dwelling:
    key: str
    unit_key: str
    room: str  # "502": floor 5, second flat
    address: str  # "蜀山街道晴庐3幢1单元502室"


@dataclass(frozen=True, slots=True)
class Household:
    key: str
    dwelling_key: str
    head_resident_key: str
    tenure: Tenure


@dataclass(frozen=True, slots=True)
class Resident:
    key: str
    household_key: str
    name: str
    id_number: str
    sex: Sex
    birth_date: date
    phone: str | None  # None for children, and for some of the oldest old
    relation_to_head: Relation
    residence_type: ResidenceType
    # In CareTag's order: a tuple, not a set, so the order rows are written in is the same
    # on every run (a set's order follows str hashes, which change between processes).
    care_tags: tuple[CareTag, ...]
    moved_in_on: date


@dataclass(frozen=True, slots=True)
class Enterprise:
    key: str
    name: str
    credit_code: str
    type: EnterpriseType
    address: str
    complex_key: str | None  # None: on a street outside the complexes
    contact_name: str
    contact_phone: str
    employees: int


@dataclass(frozen=True, slots=True)
class Organisation:
    key: str
    kind: OrganisationKind
    name: str
    complex_key: str | None  # None: the whole community
    contact_name: str
    contact_phone: str


@dataclass(frozen=True)
class SyntheticCommunity:
    tenant_id: str
    name: str  # "市北社区"
    complexes: tuple[Complex, ...]
    buildings: tuple[Building, ...]
    units: tuple[Unit, ...]
    dwellings: tuple[Dwelling, ...]  # includes vacant ones
    households: tuple[Household, ...]
    residents: tuple[Resident, ...]
    enterprises: tuple[Enterprise, ...]
    organisations: tuple[Organisation, ...]


# Hangzhou: about a third of residents have no local registration; Xiaoshan a little more.
DEFAULT_MIGRANT_SHARE: Final = 0.4
# "10,000+ residents" in Shibei's 4,223 households.
DEFAULT_RESIDENTS_PER_HOUSEHOLD: Final = 2.4
DEFAULT_COMPLEX_COUNT: Final = 4
MAX_HOUSEHOLD_SIZE: Final = 6


class DemoSize(NamedTuple):
    households: int
    migrant_share: float
    residents_per_household: float
    seed: int  # distinct per community, so demo communities never share an ID number


# DOMAIN.md's table. Shibei: 2,824 of 10,000+ residents are registered, so 72% are not.
# Hushan: 6,854 residents; its migrant share is not in the seeds (the default assumed).
# Xiangyuan: ~7,000 residents, 65% "new Xiaoshan people". The other active communities are not
# described; a modest size keeps `make run` quick.
DEMO_SIZES: Final[dict[str, DemoSize]] = {
    "xiaoshan.beigan.shibei": DemoSize(4223, 0.72, 2.40, seed=1),
    "xiaoshan.shushan.hushan": DemoSize(2365, DEFAULT_MIGRANT_SHARE, 2.90, seed=2),
    "xiaoshan.shushan.xiangyuan": DemoSize(2571, 0.65, 2.72, seed=3),
    "xiaoshan.shushan.xiushui": DemoSize(800, DEFAULT_MIGRANT_SHARE, 2.60, seed=4),
    "xiaoshan.shushan.guangning": DemoSize(800, DEFAULT_MIGRANT_SHARE, 2.60, seed=5),
    "xiaoshan.shushan.shanshuiyuan": DemoSize(800, DEFAULT_MIGRANT_SHARE, 2.60, seed=6),
}


def demo_community(tenant_id: str, *, today: date) -> SyntheticCommunity:
    """The demo community of ``DEMO_SIZES`` for ``tenant_id``."""
    size = DEMO_SIZES[tenant_id]
    return generate_community(
        tenant_id=tenant_id,
        seed=size.seed,
        households=size.households,
        migrant_share=size.migrant_share,
        residents_per_household=size.residents_per_household,
        today=today,
    )


def generate_community(
    *,
    tenant_id: str,
    seed: int,
    households: int,
    complexes: Sequence[str] | None = None,
    migrant_share: float = DEFAULT_MIGRANT_SHARE,
    residents_per_household: float = DEFAULT_RESIDENTS_PER_HOUSEHOLD,
    today: date,
) -> SyntheticCommunity:
    """A whole community: places, households and residents, enterprises, organisations.

    ``complexes`` names the complexes (default: Shibei's and Xiangyuan's from the seeds, four
    generated names elsewhere). ``migrant_share`` is the share of residents registered elsewhere
    (常住 + 流动, the "new Xiaoshan people"); ``residents_per_household`` the mean household
    size (1 to 6 people per household).
    """
    plan = _plan_community(
        tenant_id=tenant_id,
        seed=seed,
        households=households,
        complexes=complexes,
        migrant_share=migrant_share,
        residents_per_household=residents_per_household,
        today=today,
    )
    household_rows: list[Household] = []
    resident_rows: list[Resident] = []
    for household, members in _draw_households(plan):
        household_rows.append(household)
        resident_rows.extend(members)
    places = plan.places
    return SyntheticCommunity(
        tenant_id=tenant_id,
        name=plan.community_name,
        complexes=places.complexes,
        buildings=places.buildings,
        units=places.units,
        dwellings=places.dwellings,
        households=tuple(household_rows),
        residents=tuple(resident_rows),
        enterprises=_draw_enterprises(plan),
        organisations=_draw_organisations(plan),
    )


def iter_households(
    *,
    tenant_id: str,
    seed: int,
    households: int,
    complexes: Sequence[str] | None = None,
    migrant_share: float = DEFAULT_MIGRANT_SHARE,
    residents_per_household: float = DEFAULT_RESIDENTS_PER_HOUSEHOLD,
    today: date,
) -> Iterator[tuple[Household, tuple[Resident, ...]]]:
    """The households of :func:`generate_community` with their members, one at a time.

    For benchmarks at a scale where holding every resident at once is wasteful; yields exactly
    what ``generate_community`` with the same arguments holds, in the same order.
    """
    plan = _plan_community(
        tenant_id=tenant_id,
        seed=seed,
        households=households,
        complexes=complexes,
        migrant_share=migrant_share,
        residents_per_household=residents_per_household,
        today=today,
    )
    return _draw_households(plan)


def iter_residents(
    *,
    tenant_id: str,
    seed: int,
    households: int,
    complexes: Sequence[str] | None = None,
    migrant_share: float = DEFAULT_MIGRANT_SHARE,
    residents_per_household: float = DEFAULT_RESIDENTS_PER_HOUSEHOLD,
    today: date,
) -> Iterator[Resident]:
    """The residents of :func:`generate_community`, one at a time (see :func:`iter_households`)."""
    for _, members in iter_households(
        tenant_id=tenant_id,
        seed=seed,
        households=households,
        complexes=complexes,
        migrant_share=migrant_share,
        residents_per_household=residents_per_household,
        today=today,
    ):
        yield from members


# --- Reference lists -------------------------------------------------------------------------

_COMMUNITY_NAMES: Final = {
    "shibei": "市北",
    "hushan": "湖山",
    "xiangyuan": "湘源",
    "xiushui": "秀水",
    "guangning": "广宁",
    "shanshuiyuan": "山水苑",
    "junle": "郡乐",
    "chenxing": "晨星",
    "pinwen": "品文",
    "yuezhang": "越章",
    "jingyuan": "景源",
    "chaowen": "朝闻",
}
_STREET_NAMES: Final = {"shushan": "蜀山街道", "beigan": "北干街道"}


@dataclass(frozen=True)
class _KnownCommunity:
    complexes: tuple[str, ...]
    delivered_from: int | None = None
    # Complexes the seeds say have no owners' committee yet.
    without_owners_committee: frozenset[str] = frozenset()
    institutions: tuple[tuple[str, EnterpriseType], ...] = ()


_KNOWN_COMMUNITIES: Final = {
    "xiaoshan.beigan.shibei": _KnownCommunity(
        complexes=("晴庐", "望海潮", "汇雅轩", "和雅轩"),
        delivered_from=2016,
        # The community helped 望海潮 set one up.
        without_owners_committee=frozenset({"望海潮"}),
        institutions=(
            ("开发区医院", EnterpriseType.INSTITUTION),
            ("兴达市政", EnterpriseType.COMPANY),
            ("邮电大楼", EnterpriseType.INSTITUTION),
        ),
    ),
    "xiaoshan.shushan.xiangyuan": _KnownCommunity(complexes=("北辰奥园", "卧城印象")),
}

# Xiaoshan's county code changed twice: 萧山县 330121 until 1988, 萧山市 330181 until 2001,
# 萧山区 330109 since. An ID number keeps the code it was issued with, for life.
_XIAOSHAN_COUNTY_1988: Final = "330121"
_XIAOSHAN_CITY_2001: Final = "330181"
_XIAOSHAN_DISTRICT: Final = "330109"
# Other Zhejiang counties: locals whose registration moved to Xiaoshan later in life.
_ZHEJIANG_COUNTIES: Final = ("330102", "330106", "330110", "330182", "330602", "330683")
# Where Hangzhou's migrants come from, weighted roughly by how common each province is:
# Anhui, Henan, Jiangxi, Sichuan, Guizhou, Hunan, Hubei, Jiangsu and rural Zhejiang. Some are
# pre-2000 prefecture codes (4127, 3623, 5224), as older ID numbers carry them.
_MIGRANT_COUNTIES: Final = (
    ("341221", 8),
    ("341222", 6),
    ("341322", 5),
    ("411522", 5),
    ("411526", 4),
    ("412726", 4),
    ("362330", 4),
    ("360722", 3),
    ("510722", 3),
    ("511321", 3),
    ("522422", 3),
    ("430524", 3),
    ("421127", 3),
    ("320321", 2),
    ("330825", 3),
    ("331081", 3),
    ("330127", 2),
    ("330681", 2),
)

# Common surnames, weights roughly per mille of the population, with Zhejiang's (沈, 俞, 楼,
# 傅) and Xiaoshan's own 来 a little over-represented.
_SURNAMES: Final = (
    ("王", 71), ("李", 70), ("张", 68), ("刘", 54), ("陈", 60), ("杨", 31), ("黄", 22),
    ("赵", 20), ("吴", 22), ("周", 20), ("徐", 18), ("孙", 15), ("马", 13), ("朱", 14),
    ("胡", 14), ("郭", 12), ("何", 12), ("高", 11), ("林", 11), ("罗", 9), ("郑", 10),
    ("梁", 8), ("谢", 8), ("宋", 7), ("唐", 7), ("许", 8), ("韩", 6), ("冯", 6), ("邓", 6),
    ("曹", 6), ("彭", 6), ("曾", 5), ("肖", 6), ("田", 5), ("董", 5), ("袁", 5), ("潘", 5),
    ("于", 4), ("蒋", 5), ("蔡", 5), ("余", 5), ("杜", 4), ("叶", 6), ("程", 5), ("苏", 4),
    ("魏", 4), ("吕", 4), ("丁", 4), ("任", 4), ("沈", 6), ("姚", 4), ("卢", 4), ("姜", 3),
    ("崔", 3), ("钟", 3), ("谭", 3), ("陆", 4), ("汪", 4), ("范", 3), ("金", 4), ("石", 3),
    ("廖", 3), ("贾", 3), ("夏", 3), ("方", 4), ("俞", 4), ("楼", 3), ("来", 3), ("傅", 3),
    ("钱", 3), ("严", 2), ("戴", 2), ("邵", 3), ("毛", 2), ("顾", 2),
)  # fmt: skip
_MALE_NAME_CHARACTERS: Final = (
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林阳建"
    "国东文峰海亮成志晨博轩然睿泽一诚皓铭翔昊瑞毅"
)
_FEMALE_NAME_CHARACTERS: Final = (
    "芳娜敏静丽艳娟霞燕玲萍红婷雪琳洁慧莹倩颖佳欣怡琪梦璐晶丹蕾瑶"
    "琴云岚薇悦彤涵萱诗语雨思可馨妍婧秀英"
)
# Mobile prefixes of the three carriers (a made-up number in a real prefix looks real; there
# is no reserved fictional range for Chinese mobiles).
_MOBILE_PREFIXES: Final = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "177", "180", "181", "182", "183", "184",
    "185", "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip

_ROADS: Final = (
    "市心北路", "金城路", "育才北路", "博学路", "湘湖路", "蜀山路", "萧金路", "人民路",
    "通惠北路", "工人路", "山阴路", "高桥路",
)  # fmt: skip
_COMPLEX_HEADS: Final = (
    "锦绣", "翠苑", "金色", "阳光", "湖畔", "香樟", "绿洲", "御景", "云栖", "春江", "望湖",
    "东方", "紫荆", "桂语", "星河", "君悦", "嘉和", "天元", "明珠", "丽景",
)  # fmt: skip
_COMPLEX_TAILS: Final = (
    "花园", "苑", "家园", "府", "公寓", "新村", "雅苑", "名邸", "华庭", "里",
)  # fmt: skip
# 字号: the distinctive part of a business name.
_TRADE_NAMES: Final = (
    "鑫源", "恒达", "华益", "瑞丰", "金诚", "博雅", "嘉禾", "和顺", "万家", "新宇", "佳诚",
    "永盛", "康宁", "安泰", "众合", "宏远", "德润", "祥和", "百川", "汇通", "朗润", "致远",
)  # fmt: skip
_COMPANY_TRADES: Final = (
    "科技", "信息技术", "贸易", "建筑工程", "装饰工程", "餐饮管理", "物流", "电子商务",
    "文化传媒", "网络科技", "机械设备", "纺织品", "家政服务", "教育咨询",
)  # fmt: skip
_SHOP_TRADES: Final = (
    "面馆", "小吃店", "水果店", "便利店", "理发店", "超市", "五金店", "洗衣店", "快递驿站",
    "烟酒店", "早餐店", "美甲店", "棋牌室", "服装店", "修车铺", "奶茶店", "烘焙坊", "花店",
)  # fmt: skip
_SOCIAL_ORGANISATION_KINDS: Final = (
    "社会工作服务中心", "居家养老服务中心", "托育服务中心", "文化艺术培训中心",
)  # fmt: skip

# 2020 census, family households by size: 1, 2, 3, 4, 5, 6 and more (%). Mean about 2.6;
# ``_household_size_cumulative`` tilts it to the requested mean.
_HOUSEHOLD_SIZE_SHARES: Final = (25.4, 29.7, 21.0, 13.2, 6.2, 4.5)

# Ages of household heads: (lowest, highest, weight). Registered households span the whole
# adult life; migrant ones are young ("young, mostly migrant population").
_AgeBands = tuple[tuple[int, int, int], ...]
_LOCAL_HEAD_AGES: Final[_AgeBands] = (
    (20, 29, 9),
    (30, 39, 18),
    (40, 49, 20),
    (50, 59, 20),
    (60, 69, 17),
    (70, 79, 11),
    (80, 92, 5),
)
_MIGRANT_HEAD_AGES: Final[_AgeBands] = (
    (20, 29, 34),
    (30, 39, 36),
    (40, 49, 18),
    (50, 59, 8),
    (60, 69, 3),
    (70, 79, 1),
)
# Heads living with their children: most children are of school age, some grown up.
_PARENT_HEAD_AGES: Final[_AgeBands] = (
    (22, 29, 12),
    (30, 39, 33),
    (40, 49, 30),
    (50, 59, 16),
    (60, 75, 9),
)
_OLDEST: Final = 98


class _Template(NamedTuple):
    """Who lives with the head: a spouse or not, and how many children, parents, others."""

    spouse: bool
    children: int
    parents: int
    others: int


# By household size: (template, weight in registered households, weight in the others).
# Migrants share flats with people they are not related to (其他) more often.
_TEMPLATES: Final[dict[int, tuple[tuple[_Template, int, int], ...]]] = {
    1: ((_Template(False, 0, 0, 0), 1, 1),),
    2: (
        (_Template(True, 0, 0, 0), 55, 50),
        (_Template(False, 1, 0, 0), 22, 10),
        (_Template(False, 0, 1, 0), 10, 5),
        (_Template(False, 0, 0, 1), 13, 35),
    ),
    3: (
        (_Template(True, 1, 0, 0), 68, 58),
        (_Template(True, 0, 1, 0), 12, 6),
        (_Template(False, 1, 1, 0), 5, 3),
        (_Template(False, 2, 0, 0), 8, 6),
        (_Template(True, 0, 0, 1), 7, 12),
        (_Template(False, 0, 0, 2), 0, 15),
    ),
    4: (
        (_Template(True, 2, 0, 0), 45, 45),
        (_Template(True, 1, 1, 0), 42, 30),
        (_Template(True, 1, 0, 1), 8, 15),
        (_Template(True, 0, 2, 0), 5, 5),
        (_Template(False, 0, 0, 3), 0, 5),
    ),
    5: (
        (_Template(True, 1, 2, 0), 48, 40),
        (_Template(True, 2, 1, 0), 40, 40),
        (_Template(True, 2, 0, 1), 8, 15),
        (_Template(True, 3, 0, 0), 4, 5),
    ),
    6: (
        (_Template(True, 2, 2, 0), 70, 60),
        (_Template(True, 1, 2, 1), 20, 25),
        (_Template(True, 3, 1, 0), 10, 15),
    ),
}

# Care-tag rates. Disability: about 6% nationally, rising steeply with age. Party members: the
# community's branch holds those registered here; migrants' membership mostly stays at home.
# Veterans: about 4% of the population, nearly all men.
_DISABLED_RATE_CHILD: Final = 0.01
_DISABLED_RATE_ADULT: Final = 0.03
_DISABLED_RATE_ELDERLY: Final = 0.09
_PARTY_RATE_REGISTERED: Final = 0.03
_PARTY_RATE_OTHERS: Final = 0.005
_VETERAN_RATE_MEN: Final = 0.03
_VETERAN_RATE_WOMEN: Final = 0.002
_KEY_GROUP_RATE: Final = 0.003
# Some of the oldest old have no phone of their own; staff reach them through family.
_NO_PHONE_RATE_OLDEST_OLD: Final = 0.25

_OWNER_RATE_REGISTERED: Final = 0.9
_OWNER_RATE_OTHERS: Final = 0.3
_MEAN_TENANCY_DAYS: Final = 600.0
_DAYS_PER_YEAR: Final = 365.2425


# --- The plan: validated arguments, places, and one random stream per concern ---------------


@dataclass(frozen=True)
class _Places:
    complexes: tuple[Complex, ...]
    buildings: tuple[Building, ...]
    units: tuple[Unit, ...]
    dwellings: tuple[Dwelling, ...]
    # Households move into these, in order; each with its complex's delivery year.
    occupied: tuple[tuple[Dwelling, int], ...]
    roads: dict[str, str]  # complex key → its road (enterprises open shops there)


@dataclass(frozen=True)
class _Plan:
    tenant_id: str
    seed: int
    community_name: str
    street: str
    district: str
    known: _KnownCommunity | None
    migrant_share: float
    size_cumulative: tuple[float, ...]  # household sizes 1 to 6
    today: date
    places: _Places

    def rng(self, purpose: str) -> random.Random:
        return _rng(self.tenant_id, self.seed, purpose)


def _rng(tenant_id: str, seed: int, purpose: str) -> random.Random:
    # One stream per purpose: enterprises come out the same whether or not the residents were
    # drawn (streaming), and a change to one part leaves the others as they were. A str seed
    # is hashed with SHA-512, so it is stable across processes (unlike hash()).
    return random.Random(f"{tenant_id}|{seed}|{purpose}")  # noqa: S311 - not for secrets


def _plan_community(
    *,
    tenant_id: str,
    seed: int,
    households: int,
    complexes: Sequence[str] | None,
    migrant_share: float,
    residents_per_household: float,
    today: date,
) -> _Plan:
    if households < 0:
        raise ValueError("households must not be negative")
    if not 0.0 <= migrant_share <= 1.0:
        raise ValueError("migrant_share is a share: between 0 and 1")
    if not 1.0 <= residents_per_household <= MAX_HOUSEHOLD_SIZE - 0.5:
        raise ValueError(
            f"residents_per_household must be between 1 and {MAX_HOUSEHOLD_SIZE - 0.5}"
        )
    if complexes is not None and (not complexes or len(set(complexes)) != len(complexes)):
        raise ValueError("complexes must be distinct names, at least one")
    segments = tenant_id.split(".")
    known = _KNOWN_COMMUNITIES.get(tenant_id)
    street = _STREET_NAMES.get(segments[1], "") if len(segments) > 2 else ""
    if complexes is not None:
        names = list(complexes)
    elif known is not None:
        names = list(known.complexes)
    else:
        names = _complex_names(_rng(tenant_id, seed, "complex-names"))
    places = _draw_places(
        _rng(tenant_id, seed, "places"),
        street=street,
        known=known,
        today=today,
        names=names,
        households=households,
    )
    return _Plan(
        tenant_id=tenant_id,
        seed=seed,
        community_name=_COMMUNITY_NAMES.get(segments[-1], segments[-1]) + "社区",
        street=street,
        district="萧山区" if segments[0] == "xiaoshan" else "",
        known=known,
        migrant_share=migrant_share,
        size_cumulative=_household_size_cumulative(residents_per_household),
        today=today,
        places=places,
    )


def _household_size_cumulative(mean: float) -> tuple[float, ...]:
    """Census shares of sizes 1–6 tilted (× e^θk) until their mean is ``mean``."""

    def mean_of(theta: float) -> float:
        weights = [s * math.exp(theta * k) for k, s in enumerate(_HOUSEHOLD_SIZE_SHARES, 1)]
        return sum(k * w for k, w in enumerate(weights, 1)) / sum(weights)

    low, high = -20.0, 20.0  # the mean rises with θ; bisect for the one that fits
    for _ in range(80):
        middle = (low + high) / 2
        if mean_of(middle) < mean:
            low = middle
        else:
            high = middle
    weights = [s * math.exp(low * k) for k, s in enumerate(_HOUSEHOLD_SIZE_SHARES, 1)]
    return tuple(itertools.accumulate(w / sum(weights) for w in weights))


def _complex_names(rng: random.Random) -> list[str]:
    # Distinct first halves: 阳光苑 next to 阳光雅苑 would confuse people.
    return [
        head + rng.choice(_COMPLEX_TAILS)
        for head in rng.sample(_COMPLEX_HEADS, DEFAULT_COMPLEX_COUNT)
    ]


# --- Places ---------------------------------------------------------------------------------


class _BuildingShape(NamedTuple):
    floors: tuple[int, ...]
    units: tuple[int, ...]
    flats_per_floor: tuple[int, ...]


# Towers since the 2010s, mid-rise in the 2000s, six-storey walk-ups before.
_TOWER: Final = _BuildingShape((11, 17, 18, 26, 28, 32, 33), (1, 1, 2), (2, 2, 3, 4))
_MID_RISE: Final = _BuildingShape((6, 7, 11, 12, 18), (2, 3), (2,))
_WALK_UP: Final = _BuildingShape((5, 6, 7), (2, 3, 4), (2,))


def _shape_of(delivered_year: int) -> _BuildingShape:
    if delivered_year >= 2010:
        return _TOWER
    return _MID_RISE if delivered_year >= 2000 else _WALK_UP


def _draw_places(
    rng: random.Random,
    *,
    street: str,
    known: _KnownCommunity | None,
    today: date,
    names: list[str],
    households: int,
) -> _Places:
    counts = _split(households, [rng.uniform(0.6, 1.4) for _ in names])
    complexes: list[Complex] = []
    buildings: list[Building] = []
    units: list[Unit] = []
    dwellings: list[Dwelling] = []
    occupied: list[tuple[Dwelling, int]] = []
    roads: dict[str, str] = {}
    for index, (name, count) in enumerate(zip(names, counts, strict=True), 1):
        road = rng.choice(_ROADS)
        complex_ = Complex(
            key=f"c{index:02d}",
            name=name,
            address=f"{street}{road}{rng.randrange(1, 600)}号",
            delivered_year=_delivered_year(rng, known, today),
        )
        roads[complex_.key] = road
        complexes.append(complex_)
        # Some flats stand empty (unsold, between tenants): 3–12% of them.
        needed = max(1, math.ceil(count / rng.uniform(0.88, 0.97)))
        first = len(dwellings)
        _build_complex(
            rng=rng,
            street=street,
            complex_=complex_,
            needed=needed,
            buildings=buildings,
            units=units,
            dwellings=dwellings,
        )
        chosen = sorted(rng.sample(range(first, len(dwellings)), count))
        occupied.extend((dwellings[i], complex_.delivered_year) for i in chosen)
    return _Places(
        tuple(complexes), tuple(buildings), tuple(units), tuple(dwellings), tuple(occupied), roads
    )


def _split(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders, so it sums exactly)."""
    shares = [total * w / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _delivered_year(rng: random.Random, known: _KnownCommunity | None, today: date) -> int:
    latest = today.year - 1
    if known and known.delivered_from:
        earliest = min(known.delivered_from, latest)
        return rng.randint(earliest, min(earliest + 5, latest))
    return rng.randint(min(1995, latest), latest)


def _build_complex(
    *,
    rng: random.Random,
    street: str,
    complex_: Complex,
    needed: int,
    buildings: list[Building],
    units: list[Unit],
    dwellings: list[Dwelling],
) -> None:
    """Buildings until the complex has ``needed`` dwellings (the last one may add a few)."""
    shape = _shape_of(complex_.delivered_year)
    built = 0
    for number in itertools.count(1):
        if built >= needed:
            return
        building = Building(
            key=f"{complex_.key}-b{number:02d}",
            complex_key=complex_.key,
            number=f"{number}幢",
            floors=rng.choice(shape.floors),
        )
        buildings.append(building)
        flats = rng.choice(shape.flats_per_floor)
        for unit_number in range(1, rng.choice(shape.units) + 1):
            unit = Unit(f"{building.key}-u{unit_number}", building.key, f"{unit_number}单元")
            units.append(unit)
            prefix = f"{street}{complex_.name}{building.number}{unit.number}"
            for floor in range(1, building.floors + 1):
                for flat in range(1, flats + 1):
                    room = f"{floor}{flat:02d}"
                    dwellings.append(
                        Dwelling(f"{unit.key}-{room}", unit.key, room, f"{prefix}{room}室")
                    )
            built += building.floors * flats


# --- Households and residents ---------------------------------------------------------------


_T = TypeVar("_T")


class _Dice:
    """Fast draws from one ``random.Random``.

    ``randint`` and ``choice`` loop over ``getrandbits``; one ``random()`` per draw instead
    took a third off generating 200,000 residents.
    """

    def __init__(self, rng: random.Random) -> None:
        self.random = rng.random
        self.gauss = rng.gauss
        self.expovariate = rng.expovariate

    def between(self, low: int, high: int) -> int:
        """An integer from ``low`` to ``high``, both included."""
        return low + int(self.random() * (high - low + 1))

    def pick(self, items: Sequence[_T]) -> _T:
        return items[int(self.random() * len(items))]

    def weighted(self, items: Sequence[_T], cumulative: Sequence[float]) -> _T:
        return items[bisect.bisect_right(cumulative, self.random() * cumulative[-1])]


class _Weighted(Generic[_T]):
    """Items and their cumulative weights, for :meth:`_Dice.weighted`."""

    def __init__(self, pairs: Sequence[tuple[_T, float]]) -> None:
        self.items = tuple(item for item, _ in pairs)
        self.cumulative = tuple(itertools.accumulate(weight for _, weight in pairs))


class _Member(NamedTuple):
    relation: Relation
    sex: Sex
    age: int
    surname: str
    address_code: str


_SEXES: Final = (Sex.MALE, Sex.FEMALE)
_REGISTERED_TEMPLATES: Final = {
    size: _Weighted([(template, local) for template, local, _ in choices if local])
    for size, choices in _TEMPLATES.items()
}
_OTHER_TEMPLATES: Final = {
    size: _Weighted([(template, other) for template, _, other in choices if other])
    for size, choices in _TEMPLATES.items()
}
_LOCAL_HEAD_BANDS: Final = _Weighted([((low, high), w) for low, high, w in _LOCAL_HEAD_AGES])
_MIGRANT_HEAD_BANDS: Final = _Weighted([((low, high), w) for low, high, w in _MIGRANT_HEAD_AGES])
_PARENT_HEAD_BANDS: Final = _Weighted([((low, high), w) for low, high, w in _PARENT_HEAD_AGES])
_ORIGINS: Final = _Weighted(_MIGRANT_COUNTIES)
_SURNAME_WEIGHTS: Final = _Weighted(_SURNAMES)


def _draw_households(plan: _Plan) -> Iterator[tuple[Household, tuple[Resident, ...]]]:
    dice = _Dice(plan.rng("people"))
    people = _People(dice, plan.today, plan.seed)
    sizes = tuple(range(1, MAX_HOUSEHOLD_SIZE + 1))
    for number, (dwelling, delivered_year) in enumerate(plan.places.occupied, 1):
        key = f"h{number:06d}"
        size = dice.weighted(sizes, plan.size_cumulative)
        if dice.random() >= plan.migrant_share:
            tenure = Tenure.OWNER if dice.random() < _OWNER_RATE_REGISTERED else Tenure.TENANT
            residence = ResidenceType.REGISTERED
            origin = None
        else:
            tenure = Tenure.OWNER if dice.random() < _OWNER_RATE_OTHERS else Tenure.TENANT
            residence = ResidenceType.RESIDENT if tenure is Tenure.OWNER else ResidenceType.MIGRANT
            origin = dice.weighted(_ORIGINS.items, _ORIGINS.cumulative)
        members = _compose(dice, people, size, origin)
        moved_in = _household_move_in(dice, plan.today, delivered_year, tenure)
        residents = tuple(
            people.resident(
                key=f"{key}-{index}",
                household_key=key,
                member=member,
                residence=residence,
                alone=size == 1,
                household_moved_in=moved_in,
            )
            for index, member in enumerate(members, 1)
        )
        yield Household(key, dwelling.key, residents[0].key, tenure), residents


def _household_move_in(dice: _Dice, today: date, delivered_year: int, tenure: Tenure) -> date:
    # Owners move in from the delivery (after half a year to a year and a half of fitting out)
    # until today; tenancies are short, so tenants mostly arrived in the last couple of years.
    fitted_out = date(delivered_year, 1, 1).toordinal() + dice.between(180, 540)
    earliest = min(fitted_out, today.toordinal())
    if tenure is Tenure.OWNER:
        return date.fromordinal(dice.between(earliest, today.toordinal()))
    back = int(dice.expovariate(1 / _MEAN_TENANCY_DAYS))
    return date.fromordinal(max(today.toordinal() - back, earliest))


def _compose(dice: _Dice, people: _People, size: int, origin: str | None) -> list[_Member]:
    """The members of one household, head first; ``origin`` is None for registered ones."""
    templates = (_REGISTERED_TEMPLATES if origin is None else _OTHER_TEMPLATES)[size]
    template = dice.weighted(templates.items, templates.cumulative)
    head_age = _head_age(dice, template, origin)
    head_sex = _head_sex(dice, template, head_age)
    head = people.member(Relation.SELF, head_sex, head_age, origin)
    members = [head]
    youngest_parent_age = head_age
    if template.spouse:
        spouse_age = head_age + round(dice.gauss(-2 if head_sex is Sex.MALE else 2, 3))
        spouse_age = max(20, min(spouse_age, _OLDEST))
        youngest_parent_age = min(head_age, spouse_age)
        # Couples from elsewhere mostly come from the same county.
        spouse_origin = origin if dice.random() < 0.75 else _other_origin(dice, origin)
        spouse_sex = Sex.FEMALE if head_sex is Sex.MALE else Sex.MALE
        members.append(people.member(Relation.SPOUSE, spouse_sex, spouse_age, spouse_origin))
    members.extend(_parents_of(dice, people, head, template.parents, origin))
    father = next((m for m in members[:2] if m.sex is Sex.MALE), head)
    for _ in range(template.children):
        # Born when the younger parent was 22 to 34; a young parent's child is simply young.
        age = youngest_parent_age - dice.between(22, 34)
        if age < 0:
            age = dice.between(0, max(0, youngest_parent_age - 22))
        sex = dice.pick(_SEXES)
        members.append(people.member(Relation.CHILD, sex, age, origin, surname=father.surname))
    for _ in range(template.others):
        sex = dice.pick(_SEXES)
        members.append(
            people.member(Relation.OTHER, sex, dice.between(18, 60), _other_origin(dice, origin))
        )
    return members


def _head_age(dice: _Dice, template: _Template, origin: str | None) -> int:
    bands = _LOCAL_HEAD_BANDS if origin is None else _MIGRANT_HEAD_BANDS
    if template.children:
        # Parents of school children are in their thirties and forties, wherever they're from.
        bands = _PARENT_HEAD_BANDS
    low, high = 20, 92
    if template.parents:
        low, high = 24, 62  # so that the parents are alive and under 100
    elif template.children:
        low, high = 22 + 2 * (template.children - 1), 75
    elif template == _ALONE and origin is None and dice.random() < 0.4:
        # Older registered neighbourhoods: many who live alone are widowed elderly.
        return dice.between(ELDERLY_AGE, 92)
    for _ in range(20):
        band_low, band_high = dice.weighted(bands.items, bands.cumulative)
        age = dice.between(band_low, band_high)
        if low <= age <= high:
            return age
    return dice.between(low, high)


_ALONE: Final = _Template(False, 0, 0, 0)


def _head_sex(dice: _Dice, template: _Template, age: int) -> Sex:
    if template.spouse:
        female_share = 0.25
    elif template.children:
        female_share = 0.7  # single parents are mostly mothers
    elif age >= ELDERLY_AGE:
        female_share = 0.6  # women outlive their husbands
    else:
        female_share = 0.5
    return Sex.FEMALE if dice.random() < female_share else Sex.MALE


def _parents_of(
    dice: _Dice, people: _People, head: _Member, count: int, origin: str | None
) -> list[_Member]:
    if count == 0:
        return []
    mother_age = min(head.age + dice.between(22, 34), _OLDEST)
    father_age = min(mother_age + dice.between(0, 4), _OLDEST)
    if count == 1:
        # Widows outnumber widowers.
        if dice.random() < 0.65:
            return [people.member(Relation.PARENT, Sex.FEMALE, mother_age, origin)]
        return [people.member(Relation.PARENT, Sex.MALE, father_age, origin, head.surname)]
    return [
        people.member(Relation.PARENT, Sex.MALE, father_age, origin, head.surname),
        people.member(Relation.PARENT, Sex.FEMALE, mother_age, origin),
    ]


def _other_origin(dice: _Dice, origin: str | None) -> str | None:
    if origin is None:
        return None
    return dice.weighted(_ORIGINS.items, _ORIGINS.cumulative)


class _People:
    """Draws the particulars of people: names, ID numbers, phones, care tags.

    ID numbers and phones are kept unique within the community.
    """

    def __init__(self, dice: _Dice, today: date, seed: int) -> None:
        self._dice = dice
        self._random = dice.random  # the hot paths below draw with it directly
        self._today = today
        self._today_ordinal = today.toordinal()
        # The first two sequence digits come from the seed, the third (odd for men) is drawn.
        self._sequence_prefix = f"{seed % 100:02d}"
        self._used_ids: set[str] = set()
        self._used_phones: set[str] = set()
        self._birth_digits: dict[int, str] = {}  # date ordinal → "YYYYMMDD"; strftime is slow

    def surname(self) -> str:
        cumulative = _SURNAME_WEIGHTS.cumulative
        drawn = self._random() * cumulative[-1]
        return _SURNAME_WEIGHTS.items[bisect.bisect_right(cumulative, drawn)]

    def given_name(self, sex: Sex) -> str:
        characters = _MALE_NAME_CHARACTERS if sex is Sex.MALE else _FEMALE_NAME_CHARACTERS
        count = len(characters)
        first = characters[int(self._random() * count)]
        if self._random() < 0.25:
            return first
        return first + characters[int(self._random() * count)]

    def full_name(self, sex: Sex) -> str:
        return self.surname() + self.given_name(sex)

    def member(
        self, relation: Relation, sex: Sex, age: int, origin: str | None, surname: str = ""
    ) -> _Member:
        return _Member(
            relation, sex, age, surname or self.surname(), self._address_code(origin, age)
        )

    def _address_code(self, origin: str | None, age: int) -> str:
        """The county code an ID number of someone ``age`` old from ``origin`` starts with."""
        if origin is not None:
            return origin
        if self._dice.random() < 0.12:
            return self._dice.pick(_ZHEJIANG_COUNTIES)
        born = self._today.year - age
        if born >= 2001:
            return _XIAOSHAN_DISTRICT
        if born < 1972 and self._dice.random() < 0.5:
            return _XIAOSHAN_COUNTY_1988
        return _XIAOSHAN_CITY_2001

    def id_number(self, address_code: str, age: int, sex: Sex) -> tuple[str, date]:
        """A unique ID number and the birth date it carries, for someone ``age`` years old."""
        days_old = int((age + self._random()) * _DAYS_PER_YEAR) + 1
        birth_ordinal = self._today_ordinal - days_old
        parity_digits = "13579" if sex is Sex.MALE else "02468"
        start = int(self._random() * 5)
        while True:
            stem = address_code + self._digits_of(birth_ordinal) + self._sequence_prefix
            for offset in range(5):
                first17 = stem + parity_digits[(start + offset) % 5]
                if first17 not in self._used_ids:
                    self._used_ids.add(first17)
                    number = first17 + id_check_character(first17)
                    return number, date.fromordinal(birth_ordinal)
            # All five numbers of that sex and day are taken: be born a day earlier instead.
            birth_ordinal -= 1

    def _digits_of(self, ordinal: int) -> str:
        digits = self._birth_digits.get(ordinal)
        if digits is None:
            day = date.fromordinal(ordinal)
            digits = f"{day.year:04d}{day.month:02d}{day.day:02d}"
            self._birth_digits[ordinal] = digits
        return digits

    def phone(self) -> str:
        while True:
            prefix = _MOBILE_PREFIXES[int(self._random() * len(_MOBILE_PREFIXES))]
            number = f"{prefix}{int(self._random() * 10**8):08d}"
            if number not in self._used_phones:
                self._used_phones.add(number)
                return number

    def resident(
        self,
        *,
        key: str,
        household_key: str,
        member: _Member,
        residence: ResidenceType,
        alone: bool,
        household_moved_in: date,
    ) -> Resident:
        id_number, birth_date = self.id_number(member.address_code, member.age, member.sex)
        age = age_on(birth_date, self._today)
        phone: str | None = None
        if age >= ADULT_AGE and not (
            age >= OLDEST_OLD_AGE and self._dice.random() < _NO_PHONE_RATE_OLDEST_OLD
        ):
            phone = self.phone()
        return Resident(
            key=key,
            household_key=household_key,
            name=member.surname + self.given_name(member.sex),
            id_number=id_number,
            sex=member.sex,
            birth_date=birth_date,
            phone=phone,
            relation_to_head=member.relation,
            residence_type=residence,
            care_tags=self._care_tags(age, member.sex, residence, alone),
            moved_in_on=max(household_moved_in, birth_date),
        )

    def _care_tags(
        self, age: int, sex: Sex, residence: ResidenceType, alone: bool
    ) -> tuple[CareTag, ...]:
        random_ = self._dice.random
        tags: list[CareTag] = []
        if age >= ELDERLY_AGE:
            tags.append(CareTag.ELDERLY)
            if alone:
                tags.append(CareTag.LIVING_ALONE)
            disabled_rate = _DISABLED_RATE_ELDERLY
        elif age < ADULT_AGE:
            tags.append(CareTag.CHILD)
            disabled_rate = _DISABLED_RATE_CHILD
        else:
            disabled_rate = _DISABLED_RATE_ADULT
        if random_() < disabled_rate:
            tags.append(CareTag.DISABLED)
        if age >= ADULT_AGE:
            registered = residence is ResidenceType.REGISTERED
            if random_() < (_PARTY_RATE_REGISTERED if registered else _PARTY_RATE_OTHERS):
                tags.append(CareTag.PARTY_MEMBER)
            veteran_rate = _VETERAN_RATE_MEN if sex is Sex.MALE else _VETERAN_RATE_WOMEN
            if age >= 20 and random_() < veteran_rate:
                tags.append(CareTag.VETERAN)
            if random_() < _KEY_GROUP_RATE:
                tags.append(CareTag.KEY_GROUP)
        return tuple(tags)  # appended in CareTag's order


# --- Enterprises and organisations ----------------------------------------------------------

# GB 11714 organisation code (the 9th to 17th characters of a credit code): 8 characters and a
# MOD 11 check, 10 → X, 11 → 0. Letters count from A = 10.
_ORGANISATION_CODE_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)
_CREDIT_ALPHABET_NO_CHECK: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Registration authority and kind (first two characters): 9 market regulation (1 company,
# 2 individual business), 5 civil affairs (2 private non-enterprise unit), 1 establishment
# office (2 public institution).
_CREDIT_PREFIXES: Final = {
    EnterpriseType.COMPANY: "91",
    EnterpriseType.INDIVIDUAL_BUSINESS: "92",
    EnterpriseType.SOCIAL_ORGANIZATION: "52",
    EnterpriseType.INSTITUTION: "12",
}
_ENTERPRISE_TYPES: Final = (
    (EnterpriseType.INDIVIDUAL_BUSINESS, 60),
    (EnterpriseType.COMPANY, 33),
    (EnterpriseType.SOCIAL_ORGANIZATION, 5),
    (EnterpriseType.INSTITUTION, 2),
)
# Shops and firms per household: Shibei's 4,223 households → about 170.
_HOUSEHOLDS_PER_ENTERPRISE: Final = 25


def _organisation_code(body8: str) -> str:
    total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w
        for c, w in zip(body8, _ORGANISATION_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return body8 + ("X" if check == 10 else "0" if check == 11 else str(check))


def _credit_code(rng: random.Random, kind: EnterpriseType, division: str) -> str:
    if kind is EnterpriseType.INSTITUTION:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    else:
        # Codes issued since 2015 by market regulation start MA, by civil affairs MJ.
        letters = "MJ" if kind is EnterpriseType.SOCIAL_ORGANIZATION else "MA"
        body = letters + "".join(rng.choice(_CREDIT_ALPHABET_NO_CHECK) for _ in range(6))
    first17 = _CREDIT_PREFIXES[kind] + division + _organisation_code(body)
    return first17 + credit_check_character(first17)


def _draw_enterprises(plan: _Plan) -> tuple[Enterprise, ...]:
    rng = plan.rng("enterprises")
    people = _People(_Dice(rng), plan.today, plan.seed)
    count = max(3, round(len(plan.places.occupied) / _HOUSEHOLDS_PER_ENTERPRISE))
    named: list[tuple[str | None, EnterpriseType]] = list(
        plan.known.institutions if plan.known else ()
    )
    types = [kind for kind, _ in _ENTERPRISE_TYPES]
    weights = [weight for _, weight in _ENTERPRISE_TYPES]
    named.extend((None, kind) for kind in rng.choices(types, weights, k=count - len(named)))
    used_codes: set[str] = set()
    used_names: set[str] = set()
    enterprises: list[Enterprise] = []
    for number, (known_name, kind) in enumerate(named, 1):
        code = _credit_code(rng, kind, _XIAOSHAN_DISTRICT)
        while code in used_codes:
            code = _credit_code(rng, kind, _XIAOSHAN_DISTRICT)
        used_codes.add(code)
        complex_ = rng.choice(plan.places.complexes)
        in_complex = kind is EnterpriseType.INDIVIDUAL_BUSINESS or rng.random() < 0.3
        road = plan.places.roads[complex_.key]
        address = (
            f"{plan.street}{complex_.name}商铺{rng.randint(1, 60)}号"
            if in_complex
            else f"{plan.street}{road}{rng.randrange(1, 900)}号"
        )
        enterprises.append(
            Enterprise(
                key=f"e{number:04d}",
                name=known_name or _unused_name(rng, plan, kind, people, used_names),
                credit_code=code,
                type=kind,
                address=address,
                complex_key=complex_.key if in_complex else None,
                contact_name=people.full_name(rng.choice(_SEXES)),
                contact_phone=people.phone(),
                employees=_employees(rng, kind),
            )
        )
    return tuple(enterprises)


def _unused_name(
    rng: random.Random, plan: _Plan, kind: EnterpriseType, people: _People, used: set[str]
) -> str:
    # Registration refuses a name already taken in the area. The name lists are short, so a
    # large community runs out: then the name gets a branch number, as chains do.
    name = _enterprise_name(rng, plan, kind, people)
    for _ in range(5):
        if name not in used:
            break
        name = _enterprise_name(rng, plan, kind, people)
    base, branch = name, 1
    while name in used:
        branch += 1
        name = f"{base}（{branch}号店）"
    used.add(name)
    return name


def _enterprise_name(rng: random.Random, plan: _Plan, kind: EnterpriseType, people: _People) -> str:
    trade_name = rng.choice(_TRADE_NAMES)
    if kind is EnterpriseType.COMPANY:
        return f"杭州{trade_name}{rng.choice(_COMPANY_TRADES)}有限公司"
    if kind is EnterpriseType.INDIVIDUAL_BUSINESS:
        # Small shops are often named after the owner: 阿英水果店, 王记面馆.
        shop = rng.choice((f"{people.surname()}记", f"阿{rng.choice(_FEMALE_NAME_CHARACTERS)}"))
        return f"{plan.district}{plan.street}{shop}{rng.choice(_SHOP_TRADES)}"
    if kind is EnterpriseType.SOCIAL_ORGANIZATION:
        return f"杭州市{plan.district}{trade_name}{rng.choice(_SOCIAL_ORGANISATION_KINDS)}"
    return rng.choice((f"{plan.community_name}卫生服务站", f"{plan.district}{trade_name}幼儿园"))


def _employees(rng: random.Random, kind: EnterpriseType) -> int:
    if kind is EnterpriseType.INDIVIDUAL_BUSINESS:
        return rng.choices((1, 2, 3, 4, 5, 6), (30, 30, 18, 10, 7, 5))[0]
    if kind is EnterpriseType.SOCIAL_ORGANIZATION:
        return rng.randint(3, 20)
    if kind is EnterpriseType.INSTITUTION:
        return rng.randint(10, 300)
    # Company sizes are heavy-tailed: most are small, a few employ hundreds.
    return max(2, min(500, round(rng.lognormvariate(2.2, 0.9))))


def _draw_organisations(plan: _Plan) -> tuple[Organisation, ...]:
    rng = plan.rng("organisations")
    people = _People(_Dice(rng), plan.today, plan.seed)
    community = plan.community_name
    drafts: list[tuple[OrganisationKind, str, str | None]] = [
        (OrganisationKind.PARTY_BRANCH, f"中共{plan.district}{community}委员会", None),
        (OrganisationKind.VOLUNTEER_TEAM, f"{community}志愿服务队", None),
    ]
    without_committee = plan.known.without_owners_committee if plan.known else frozenset()
    for complex_ in plan.places.complexes:
        key = complex_.key
        trade_name = rng.choice(_TRADE_NAMES)
        drafts.append((OrganisationKind.PROPERTY_COMPANY, f"杭州{trade_name}物业服务有限公司", key))
        # Most complexes have elected an owners' committee; young ones may not have yet.
        if complex_.name not in without_committee and rng.random() < 0.75:
            drafts.append((OrganisationKind.OWNERS_COMMITTEE, f"{complex_.name}业主委员会", key))
        if rng.random() < 0.4:
            team = rng.choice(("平安巡逻队", "楼道长志愿服务队", "反诈宣传队"))
            drafts.append((OrganisationKind.VOLUNTEER_TEAM, f"{complex_.name}{team}", key))
        if rng.random() < 0.5:
            drafts.append((OrganisationKind.PARTY_BRANCH, f"{complex_.name}小区党支部", key))
    organisations: list[Organisation] = []
    for number, (kind, name, complex_key) in enumerate(drafts, 1):
        organisations.append(
            Organisation(
                key=f"o{number:03d}",
                kind=kind,
                name=name,
                complex_key=complex_key,
                contact_name=people.full_name(rng.choice(_SEXES)),
                contact_phone=people.phone(),
            )
        )
    return tuple(organisations)
