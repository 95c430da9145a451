from notify.audiences import (
    Recipient,
    audience_json,
    audience_of,
    choose_channel,
    names_residents,
)
from shequ.census.v1 import census_pb2 as cpb
from shequ.notify.v1 import notify_pb2 as pb

RESIDENT = Recipient(
    key="resident:5f2c",
    name="王秀英",
    addresses={"email": "wang@example.org", "sms": "13812345678", "inbox": "account:u1"},
    masked={"email": "w***@example.org", "sms": "138****5678", "inbox": "account:u1"},
)


def test_the_first_channel_in_the_notices_order_with_an_address_wins() -> None:
    assert choose_channel(RESIDENT, ["wecom", "sms", "email"]) == ("sms", "13812345678")
    assert choose_channel(RESIDENT, ["email", "sms"]) == ("email", "wang@example.org")


def test_tried_channels_are_skipped_and_fall_back_to_the_next() -> None:
    assert choose_channel(RESIDENT, ["email", "sms"], skip={"email"}) == ("sms", "13812345678")
    assert choose_channel(RESIDENT, ["email", "sms"], skip={"email", "sms"}) is None


def test_a_channel_the_person_opted_out_of_is_never_chosen() -> None:
    opted = Recipient(
        key=RESIDENT.key,
        name=RESIDENT.name,
        addresses=RESIDENT.addresses,
        masked=RESIDENT.masked,
        opted_out=frozenset({"sms"}),
    )
    assert choose_channel(opted, ["sms", "inbox"]) == ("inbox", "account:u1")
    assert choose_channel(opted, ["sms", "wecom"]) is None


def test_nobody_reachable_without_an_address_on_the_notices_channels() -> None:
    role = Recipient(key="role:community-staff", name="社区工作人员", addresses={}, masked={})
    assert choose_channel(role, ["inbox"]) is None


def test_the_stored_audience_reads_back_as_the_message() -> None:
    audience = pb.Audience(
        complex_ids=["0b8e6c1e-8f0c-4a55-9d33-0c3b1b1f2a10"],
        care_tags=[cpb.CARE_TAG_ELDERLY, cpb.CARE_TAG_LIVING_ALONE],
        roles=["community-staff"],
    )
    stored = audience_json(audience)
    assert stored["care_tags"] == ["CARE_TAG_ELDERLY", "CARE_TAG_LIVING_ALONE"]
    assert audience_of(stored) == audience
    assert audience_of(audience) is audience


def test_only_accounts_and_roles_stream_no_residents() -> None:
    assert not names_residents(pb.Audience(account_subjects=["u1"], roles=["grid-worker"]))
    assert names_residents(pb.Audience(whole_community=True))
    assert names_residents(pb.Audience(care_tags=[cpb.CARE_TAG_ELDERLY]))
    assert names_residents(pb.Audience(resident_ids=["r"]))
