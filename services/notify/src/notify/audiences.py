"""Who a notice reaches, and on which channel.

An audience is resolved when the notice is sent (and for a preview), never stored as a list:
grids and micro-grids become buildings through grid's coverage, and census streams the
residents of the places (narrowed by care tags and residence types) as this service's own
account. Each resident's contact row adds an account inbox, an e-mail and the channels they
opted out of; the census phone gives SMS and, with the robot of their building (else of their
complex), a mention in the residents' group. Named accounts and role inboxes are added.

Recipients are streamed and deduplicated by key on the way (only the keys are kept), so a
person named twice — a resident of two named places, or an account linked to a resident of the
audience — is one recipient.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

import grpc
from google.protobuf.json_format import MessageToDict, ParseDict
from sqlalchemy import select

from notify.channels.wecom import wecom_address
from notify.models import ContactRow, RobotRow
from notify.preferences import mask_email, mask_phone
from shequ.census.v1 import census_pb2 as cpb
from shequ.common.v1 import paging_pb2
from shequ.grid.v1 import grid_pb2 as gpb
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input
from shequ_kit.tenancy import TenantId

if TYPE_CHECKING:
    from notify.app import NotifyCore

CHANNEL_WORDS: Final = ("inbox", "email", "wecom", "sms")
# A phone is on record but was not asked for (a preview counts it without seeing it).
WITHHELD: Final = "withheld"
# Channels that need the census phone: SMS to it, or a mention of it in the group.
PHONE_CHANNELS: Final = frozenset({"sms", "wecom"})
ROLE_LABELS: Final[Mapping[str, str]] = {
    "community-staff": "社区工作人员",
    "street-admin": "街道管理员",
    "grid-worker": "网格员",
    "resident": "居民",
    "platform-admin": "平台管理员",
}
CONTACT_BATCH: Final = 500
COVERAGE_PAGE: Final = 500


@dataclass(frozen=True, slots=True)
class Recipient:
    key: str  # "resident:<uuid>" | "account:<subject>" | "role:<role>"
    name: str  # the resident's name; the role's label; "" for an account
    # Channel word → clear address: inbox → "account:<sub>"/"role:<role>", email, sms → phone,
    # wecom → "<robot id>:<phone>" (notify.channels.wecom). Only the notice's channels.
    addresses: Mapping[str, str]
    masked: Mapping[str, str]  # channel word → the address as records show it
    opted_out: frozenset[str] = field(default_factory=frozenset)


def choose_channel(
    recipient: Recipient, channels: Sequence[str], *, skip: Collection[str] = ()
) -> tuple[str, str] | None:
    """The first of ``channels`` (in the notice's order) on which the recipient has an address
    and has not opted out, skipping ``skip`` (channels already tried); None: unreachable."""
    for channel in channels:
        if channel in skip or channel in recipient.opted_out:
            continue
        address = recipient.addresses.get(channel)
        if address:
            return channel, address
    return None


# ---- the audience as stored ----


def audience_of(stored: pb.Audience | Mapping[str, Any]) -> pb.Audience:
    """The Audience message, from itself or from ``notices.audience`` (its JSON)."""
    if isinstance(stored, pb.Audience):
        return stored
    return ParseDict(dict(stored), pb.Audience())


def audience_json(audience: pb.Audience) -> dict[str, Any]:
    """What ``notices.audience`` keeps: the message as JSON with the proto's field names."""
    return MessageToDict(audience, preserving_proto_field_name=True)


def names_residents(audience: pb.Audience) -> bool:
    """Whether the audience reaches residents at all (a notice to accounts or roles only
    streams nobody from census)."""
    return bool(
        audience.whole_community
        or audience.grid_ids
        or audience.micro_grid_ids
        or audience.complex_ids
        or audience.building_ids
        or audience.resident_ids
        or audience.care_tags
        or audience.residence_types
    )


# ---- resolving ----


def resolve(
    core: NotifyCore,
    tenant: TenantId,
    audience: pb.Audience | Mapping[str, Any],
    channels: Sequence[str],
    *,
    purpose: str,
    with_phones: bool,
) -> Iterator[Recipient]:
    """Every recipient of the audience once, residents first, then accounts, then roles.

    ``with_phones`` only when sending: census then answers phones in clear (and audits each
    resident with ``purpose``); a preview asks whether a phone is on record and no more.
    """
    wanted = audience_of(audience)
    channel_set = frozenset(channels)
    seen: set[str] = set()
    if names_residents(wanted):
        yield from _residents(
            core,
            tenant,
            wanted,
            channels=channel_set,
            purpose=purpose,
            with_phones=with_phones,
            seen=seen,
        )
    yield from _accounts(core, tenant, wanted.account_subjects, seen)
    for role in dict.fromkeys(r.strip() for r in wanted.roles):
        key = f"role:{role}"
        if role and key not in seen:
            seen.add(key)
            yield Recipient(
                key=key,
                name=ROLE_LABELS.get(role, role),
                addresses={"inbox": key},
                masked={"inbox": key},
            )


def _residents(
    core: NotifyCore,
    tenant: TenantId,
    audience: pb.Audience,
    *,
    channels: frozenset[str],
    purpose: str,
    with_phones: bool,
    seen: set[str],
) -> Iterator[Recipient]:
    request = _census_request(core, tenant, audience)
    if request is None:
        return  # places were named, and they hold no buildings
    request.with_phones = with_phones and bool(channels & PHONE_CHANNELS)
    request.purpose = purpose if request.with_phones else ""
    with core.reading(tenant) as session:
        # Keyed by the id as census writes it, so a resident's place is looked up as it comes.
        robots = {
            str(place): row
            for row in session.scalars(select(RobotRow))
            for place in (row.building_id, row.complex_id)
            if place is not None
        }
    for batch in _batches(stream_residents(core, tenant, request), CONTACT_BATCH):
        ids = [uuid.UUID(person.resident_id) for person in batch]
        with core.reading(tenant) as session:
            contacts = {
                row.resident_id: row
                for row in session.scalars(
                    select(ContactRow).where(ContactRow.resident_id.in_(ids))
                )
            }
        for resident_id, person in zip(ids, batch, strict=True):
            key = f"resident:{resident_id}"
            if key in seen:
                continue
            seen.add(key)
            yield _resident(key, person, contacts.get(resident_id), robots, channels)


def _resident(
    key: str,
    person: cpb.StreamResidentsInPlacesResponse,
    contact: ContactRow | None,
    robots: Mapping[str, RobotRow],
    channels: frozenset[str],
) -> Recipient:
    addresses: dict[str, str] = {}
    masked: dict[str, str] = {}
    if contact is not None and contact.account_subject:
        addresses["inbox"] = masked["inbox"] = f"account:{contact.account_subject}"
    if contact is not None and contact.email:
        addresses["email"], masked["email"] = contact.email, mask_email(contact.email)
    phone = person.phone or (WITHHELD if person.has_phone else "")
    if phone:
        addresses["sms"] = phone
        masked["sms"] = mask_phone(person.phone) if person.phone else "手机号已登记"
        robot = _robot_of(person, robots)
        if robot is not None:
            addresses["wecom"], masked["wecom"] = wecom_address(robot.id, phone), robot.name
    return Recipient(
        key=key,
        name=person.name,
        addresses={c: a for c, a in addresses.items() if c in channels},
        masked={c: m for c, m in masked.items() if c in channels},
        opted_out=frozenset(contact.opted_out) if contact is not None else frozenset(),
    )


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


def _robot_of(
    person: cpb.StreamResidentsInPlacesResponse, robots: Mapping[str, RobotRow]
) -> RobotRow | None:
    """The robot of the resident's building group, else of their complex group."""
    for place in (person.building_id, person.complex_id):
        if place:
            found = robots.get(place.lower())
            if found is not None:
                return found
    return None


def _accounts(
    core: NotifyCore, tenant: TenantId, subjects: Iterable[str], seen: set[str]
) -> Iterator[Recipient]:
    named = list(dict.fromkeys(s.strip() for s in subjects if s.strip()))
    if not named:
        return
    with core.reading(tenant) as session:
        found = session.execute(
            select(ContactRow.account_subject, ContactRow.resident_id).where(
                ContactRow.account_subject.in_(named)
            )
        )
        linked = {subject: resident for subject, resident in found}
    for subject in named:
        resident = linked.get(subject)
        if resident is not None and f"resident:{resident}" in seen:
            continue  # the same person, reached as the resident
        key = f"account:{subject}"
        if key in seen:
            continue
        seen.add(key)
        yield Recipient(key=key, name="", addresses={"inbox": key}, masked={"inbox": key})


def _census_request(
    core: NotifyCore, tenant: TenantId, audience: pb.Audience
) -> cpb.StreamResidentsInPlacesRequest | None:
    """Census's question for the audience's residents; None when the named places turn out to
    hold no building (asking census with no places would mean everyone)."""
    narrowing = {
        "care_tags": list(audience.care_tags),
        "residence_types": list(audience.residence_types),
    }
    if audience.whole_community:
        return cpb.StreamResidentsInPlacesRequest(**narrowing)  # type: ignore[arg-type]
    buildings = list(dict.fromkeys(audience.building_ids))
    for grid_id in dict.fromkeys(audience.grid_ids):
        buildings += _covered_buildings(core, tenant, gpb.ListCoverageRequest(grid_id=grid_id))
    for micro in dict.fromkeys(audience.micro_grid_ids):
        buildings += _covered_buildings(core, tenant, gpb.ListCoverageRequest(micro_grid_id=micro))
    places = list(audience.complex_ids) + buildings + list(audience.resident_ids)
    named_places = (
        audience.grid_ids
        or audience.micro_grid_ids
        or audience.complex_ids
        or audience.building_ids
    )
    if named_places and not places:
        return None
    return cpb.StreamResidentsInPlacesRequest(
        complex_ids=list(dict.fromkeys(audience.complex_ids)),
        building_ids=list(dict.fromkeys(buildings)),
        resident_ids=list(dict.fromkeys(audience.resident_ids)),
        **narrowing,  # type: ignore[arg-type]
    )


def _covered_buildings(
    core: NotifyCore, tenant: TenantId, request: gpb.ListCoverageRequest
) -> list[str]:
    found: list[str] = []
    token = ""
    while True:
        request.page.CopyFrom(paging_pb2.PageRequest(page_size=COVERAGE_PAGE, page_token=token))
        try:
            response: gpb.ListCoverageResponse = core.grid.ListCoverage(
                request, metadata=core.upstream_metadata(tenant)
            )
        except grpc.RpcError as error:
            field = "audience.grid_ids" if request.grid_id else "audience.micro_grid_ids"
            raise _upstream_error("grid", "ListCoverage", error, field) from error
        found += [c.building_id for c in response.coverage if c.building_id]
        token = response.page.next_page_token
        if not token:
            return found


def stream_residents(
    core: NotifyCore, tenant: TenantId, request: cpb.StreamResidentsInPlacesRequest
) -> Iterator[cpb.StreamResidentsInPlacesResponse]:
    """Census's answer to ``request``, as this service's account on ``tenant``."""
    try:
        yield from core.census.StreamResidentsInPlaces(
            request,
            metadata=core.upstream_metadata(tenant),
            timeout=core.settings.audience_stream_timeout_s,
        )
    except grpc.RpcError as error:
        raise _upstream_error("census", "StreamResidentsInPlaces", error, "audience") from error


def _upstream_error(service: str, method: str, error: grpc.RpcError, field: str) -> DomainError:
    """A place the other service does not know is the caller's mistake, naming the field;
    anything else is that service being unavailable (the dispatcher tries again later)."""
    code = error.code()
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
        return invalid_input(
            "notify.audience_invalid",
            "通知对象中有本社区不存在的网格、小区、楼栋或居民",
            f"{service} refused the audience: {error.details()}",
            FieldViolation(f"draft.{field}", "not a place or resident of this community"),
        )
    return DomainError(
        f"notify.{service}_unavailable",
        "暂时无法查询通知对象，请稍后重试",
        f"{service} {method} failed: {code}",
        ErrorKind.UNAVAILABLE,
    )
