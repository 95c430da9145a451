"""The census's words for kinds of things, and their protobuf enums: one place for both.

The domain, the database, the import template and the synthetic generator use these StrEnums
(their values are what the database stores); the API speaks the proto enums.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from shequ.census.v1 import census_pb2 as pb


class Relation(StrEnum):
    """Relation to the household head (与户主关系)."""

    SELF = "self"  # 户主
    SPOUSE = "spouse"  # 配偶
    CHILD = "child"  # 子女
    PARENT = "parent"  # 父母
    OTHER = "other"  # 其他


class ResidenceType(StrEnum):
    REGISTERED = "registered"  # 户籍: household registration (户口) here
    RESIDENT = "resident"  # 常住: registered elsewhere, settled here (owns the dwelling)
    MIGRANT = "migrant"  # 流动: registered elsewhere, renting


class Tenure(StrEnum):
    OWNER = "owner"  # 自有
    TENANT = "tenant"  # 租住


class CareTag(StrEnum):
    ELDERLY = "elderly"  # 一老: 60 and over
    CHILD = "child"  # 一小: under 18
    LIVING_ALONE = "living_alone"  # 独居 (here: an elderly person alone in the household)
    DISABLED = "disabled"  # 残疾
    PARTY_MEMBER = "party_member"  # 党员
    VETERAN = "veteran"  # 退役军人
    KEY_GROUP = "key_group"  # 重点人群


class EnterpriseType(StrEnum):
    COMPANY = "company"  # 企业
    INDIVIDUAL_BUSINESS = "individual_business"  # 个体工商户
    INSTITUTION = "institution"  # 机关事业单位
    SOCIAL_ORGANIZATION = "social_organization"  # 社会组织


class OrganisationKind(StrEnum):
    OWNERS_COMMITTEE = "owners_committee"  # 业委会
    PROPERTY_COMPANY = "property_company"  # 物业公司
    VOLUNTEER_TEAM = "volunteer_team"  # 志愿者队伍
    PARTY_BRANCH = "party_branch"  # 党支部


RELATIONS: Final = {
    "self": pb.RELATION_TO_HEAD_SELF,
    "spouse": pb.RELATION_TO_HEAD_SPOUSE,
    "child": pb.RELATION_TO_HEAD_CHILD,
    "parent": pb.RELATION_TO_HEAD_PARENT,
    "other": pb.RELATION_TO_HEAD_OTHER,
}
RESIDENCE_TYPES: Final = {
    "registered": pb.RESIDENCE_TYPE_REGISTERED,
    "resident": pb.RESIDENCE_TYPE_RESIDENT,
    "migrant": pb.RESIDENCE_TYPE_MIGRANT,
}
TENURES: Final = {"owner": pb.TENURE_OWNER, "tenant": pb.TENURE_TENANT}
SEXES: Final = {"male": pb.SEX_MALE, "female": pb.SEX_FEMALE}
CARE_TAGS: Final = {
    "elderly": pb.CARE_TAG_ELDERLY,
    "child": pb.CARE_TAG_CHILD,
    "living_alone": pb.CARE_TAG_LIVING_ALONE,
    "disabled": pb.CARE_TAG_DISABLED,
    "party_member": pb.CARE_TAG_PARTY_MEMBER,
    "veteran": pb.CARE_TAG_VETERAN,
    "key_group": pb.CARE_TAG_KEY_GROUP,
}
# Tags staff set; "elderly" and "child" are derived from the birth date, never typed in.
SETTABLE_CARE_TAGS: Final = frozenset(CARE_TAGS) - {"elderly", "child"}
AGE_BANDS: Final = {
    "0-6": pb.AGE_BAND_0_6,
    "7-17": pb.AGE_BAND_7_17,
    "18-34": pb.AGE_BAND_18_34,
    "35-59": pb.AGE_BAND_35_59,
    "60-79": pb.AGE_BAND_60_79,
    "80+": pb.AGE_BAND_80_PLUS,
}


def word_of(table: Mapping[str, int], value: int) -> str:
    """The word for a proto enum value; '' for UNSPECIFIED or unknown."""
    return next((word for word, number in table.items() if number == value), "")
