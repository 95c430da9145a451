"""The census's words for kinds of things, and their protobuf enums: one table each.

Domain code stores the short English words; the API speaks the proto enums.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from shequ.census.v1 import census_pb2 as pb

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
