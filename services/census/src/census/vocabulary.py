"""The census's words for kinds of things, and their protobuf enums: one place for both.

The domain, the database, the import template and the synthetic generator use these StrEnums
(their values are what the database stores); the API speaks the proto enums.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, TypeVar

from shequ.census.v1 import census_pb2 as pb
from shequ_kit.errors import FieldViolation, invalid_input

Word = TypeVar("Word", bound=StrEnum)


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
# Keyed by the StrEnum members (which are str), so word_of() hands back the member itself.
ENTERPRISE_TYPES: Final[Mapping[str, pb.EnterpriseType.ValueType]] = {
    EnterpriseType.COMPANY: pb.ENTERPRISE_TYPE_COMPANY,
    EnterpriseType.INDIVIDUAL_BUSINESS: pb.ENTERPRISE_TYPE_INDIVIDUAL_BUSINESS,
    EnterpriseType.INSTITUTION: pb.ENTERPRISE_TYPE_INSTITUTION,
    EnterpriseType.SOCIAL_ORGANIZATION: pb.ENTERPRISE_TYPE_SOCIAL_ORGANIZATION,
}
ORGANIZATION_KINDS: Final[Mapping[str, pb.OrganizationKind.ValueType]] = {
    OrganisationKind.OWNERS_COMMITTEE: pb.ORGANIZATION_KIND_OWNERS_COMMITTEE,
    OrganisationKind.PROPERTY_COMPANY: pb.ORGANIZATION_KIND_PROPERTY_COMPANY,
    OrganisationKind.VOLUNTEER_TEAM: pb.ORGANIZATION_KIND_VOLUNTEER_TEAM,
    OrganisationKind.PARTY_BRANCH: pb.ORGANIZATION_KIND_PARTY_BRANCH,
}
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


def parse_word(kind: type[Word], value: str, *, field: str, label_zh: str) -> Word:
    """``value`` as a member of ``kind``, or an error naming ``field`` and the allowed words."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise invalid_input(
            f"census.{field}_invalid",
            f"{label_zh}取值不正确",
            f"{field} must be one of {choices}",
            FieldViolation(field, choices),
        ) from None
