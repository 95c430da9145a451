"""GeoReport v2 ⇄ the cases service: services are the tenant's case categories, service
requests are its cases.

Everything here is pure: the GeoReport parameters a client sends are checked and turned into
the cases service's requests, and its answers into the GeoReport fields. Names follow the
specification (http://wiki.open311.org/GeoReport_v2): ``service_code`` is the category's
4-digit code, ``service_request_id`` the case id, ``address_id`` a census building id. Our
richer lifecycle is shown as the specification's two statuses (``status_of``). Times go out
as ISO 8601 with the offset of Asia/Shanghai, where the cases happen.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

from shequ.cases.v1 import cases_pb2 as pb
from shequ_kit.errors import DomainError, FieldViolation, invalid_input

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
SHANGHAI = ZoneInfo("Asia/Shanghai")
FORMATS = ("application/json", "text/xml")
# The specification's limits on GET requests: at most 1000 requests, a window of 90 days.
MAX_REQUESTS = 1000
WINDOW = timedelta(days=90)
# service_request_id lists are answered one lookup per id; more than this is a search.
MAX_IDS = 100
MAX_TITLE = 100
MAX_PHOTOS = 9
MAX_URL = 500
_CODE = re.compile(r"[0-9]{4}")
_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]*)\](\[\])?")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

Status = Literal["open", "closed"]
# Everything after which nothing more will be done is "closed"; the rest is still "open".
CLOSED_STATES: Final = frozenset(
    {
        pb.CASE_STATE_CLOSED,
        pb.CASE_STATE_RATED,
        pb.CASE_STATE_REJECTED,
        pb.CASE_STATE_VOIDED,
        pb.CASE_STATE_MERGED,
    }
)
OPEN_STATES: Final = frozenset(
    s for s in pb.CaseState.values() if s not in CLOSED_STATES and s != pb.CASE_STATE_UNSPECIFIED
)
STATE_LABELS: Final[Mapping[int, str]] = MappingProxyType(
    {
        pb.CASE_STATE_REPORTED: "已上报，待受理 Reported",
        pb.CASE_STATE_ACCEPTED: "已立案 Accepted",
        pb.CASE_STATE_REJECTED: "不予立案 Rejected",
        pb.CASE_STATE_VOIDED: "已作废 Voided",
        pb.CASE_STATE_DISPATCHED: "已派遣 Dispatched",
        pb.CASE_STATE_IN_PROGRESS: "处置中 In progress",
        pb.CASE_STATE_SUSPENDED: "缓办 Suspended",
        pb.CASE_STATE_RESOLVED: "处置完成，待核查 Resolved",
        pb.CASE_STATE_VERIFIED: "已核查 Verified",
        pb.CASE_STATE_CLOSED: "已结案 Closed",
        pb.CASE_STATE_RATED: "已评价 Rated",
        pb.CASE_STATE_MERGED: "已并案 Merged",
    }
)
LEVEL_LABELS: Final[Mapping[int, str]] = MappingProxyType(
    {
        pb.LEVEL_MICRO_GRID: "微网格",
        pb.LEVEL_GRID: "网格",
        pb.LEVEL_COMMUNITY: "社区",
        pb.LEVEL_STREET: "街道",
    }
)
UNIT_LABELS: Final[Mapping[int, str]] = MappingProxyType(
    {pb.DEADLINE_UNIT_WORKING_HOURS: "个工作小时", pb.DEADLINE_UNIT_WORKING_DAYS: "个工作日"}
)
# What the service calls a field → the GeoReport parameter the client sent it as.
PARAMETER_OF_FIELD: Final[Mapping[str, str]] = MappingProxyType(
    {
        "category_code": "service_code",
        "title": "attribute[title]",
        "description": "description",
        "place.building_id": "address_id",
        "place.complex_id": "attribute[complex_id]",
        "place.dwelling_id": "attribute[dwelling_id]",
        "place.address": "address_string",
        "place.latitude": "lat",
        "place.longitude": "long",
        "photos": "media_url",
        "reporter_name": "first_name",
        "reporter_phone": "phone",
        "idempotency_key": "Idempotency-Key",
        "tenant": "jurisdiction_id",
        "case_id": "service_request_id",
    }
)


def geo_time(stamp: Timestamp, present: bool) -> str | None:
    """ISO 8601 with the offset (``2026-11-23T09:30:00+08:00``), or None when unset."""
    if not present:
        return None
    return stamp.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI).isoformat(timespec="seconds")


def status_of(state: pb.CaseState.ValueType) -> Status:
    return "closed" if state in CLOSED_STATES else "open"


def is_service_code(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


def _refused(code: str, zh: str, en: str, parameter: str, why: str) -> DomainError:
    return invalid_input(f"open311.{code}", zh, en, FieldViolation(parameter, why))


# ---- services ----


def service_of(category: pb.Category) -> dict[str, Any]:
    """One entry of ``services``: every class takes the attributes below, so metadata is true."""
    keywords = [category.major_name, category.name] + (["紧急"] if category.urgent else [])
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.acceptance_standard,
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(k for k in keywords if k),
        "group": category.major_name,
    }


@dataclass(frozen=True)
class Attribute:
    """A question a client asks the reporter beyond the standard parameters. Each one is
    carried into the report (``report_request``); none is collected and dropped."""

    code: str
    datatype: Literal["string", "text"]
    description: str
    datatype_description: str

    def document(self, order: int) -> dict[str, Any]:
        return {
            "variable": True,
            "code": self.code,
            "datatype": self.datatype,
            "required": False,
            "datatype_description": self.datatype_description,
            "order": order,
            "description": self.description,
        }


ATTRIBUTES: Final = (
    Attribute(
        "title",
        "string",
        "标题 Title",
        f"不超过{MAX_TITLE}字；不填则取类别名称和描述开头。Up to {MAX_TITLE} characters; "
        "by default the service name and the start of the description.",
    ),
    Attribute(
        "complex_id",
        "string",
        "小区 Residential complex",
        "人口库中的小区编号（UUID），与 address_id 的楼幢同属一个社区。The census id of the "
        "complex (a UUID).",
    ),
    Attribute(
        "dwelling_id",
        "string",
        "房屋 Dwelling",
        "人口库中的房屋编号（UUID），问题在某户室内时填写。The census id of the dwelling (a "
        "UUID), when the problem is inside one.",
    ),
    Attribute(
        "more_media_urls",
        "text",
        "更多照片 More photos",
        f"每行一个 http(s) 地址，连同 media_url 最多{MAX_PHOTOS}张。One http(s) URL per line; "
        f"at most {MAX_PHOTOS} photos with media_url.",
    ),
)
ATTRIBUTE_CODES: Final = frozenset(a.code for a in ATTRIBUTES)


def service_definition(category: pb.Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "attributes": [a.document(order) for order, a in enumerate(ATTRIBUTES, start=1)],
    }


class Changesets:
    """When each tenant's service list last changed, as far as this process has seen.

    The catalogue carries no change times, so discovery's ``changeset`` is the moment this
    process first saw the list in its present form (a digest of the categories). A restart or
    another replica may name a later moment for an unchanged list: clients then refresh once
    more than needed, never once too few.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._seen: OrderedDict[str, tuple[str, datetime]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def changeset(self, tenant: str, categories: Iterable[pb.Category], now: datetime) -> datetime:
        digest = hashlib.sha256()
        for category in categories:
            digest.update(category.SerializeToString(deterministic=True))
            digest.update(b"\x00")
        fingerprint = digest.hexdigest()
        with self._lock:
            seen = self._seen.get(tenant)
            if seen is None or seen[0] != fingerprint:
                seen = (fingerprint, now)
                self._seen[tenant] = seen
            self._seen.move_to_end(tenant)
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return seen[1]


def discovery(*, url: str, changeset: datetime, contact: str, key_service: str) -> dict[str, Any]:
    stamp = changeset.astimezone(SHANGHAI).isoformat(timespec="seconds")
    return {
        "changeset": stamp,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": stamp,
                "type": "production",
                "formats": list(FORMATS),
            }
        ],
    }


# ---- service requests: reading ----


def agency_of(case: pb.Case) -> str:
    """Who answers for the case now: the level, and the person or queue holding it."""
    level = LEVEL_LABELS.get(case.level, "社区")
    return f"{level}：{case.assignee_name}" if case.assignee_name else level


def notice_of(case: pb.Case) -> str:
    notice = f"事件编号 {case.number}"
    deadline = geo_time(case.deadline, case.HasField("deadline"))
    if deadline and status_of(case.state) == "open":
        notice += f"；办理时限 {deadline}" + ("（已超期）" if case.overdue else "")
    return notice


def status_notes(case: pb.Case, latest_note: str = "") -> str:
    notes = STATE_LABELS.get(case.state, "")
    if case.state == pb.CASE_STATE_MERGED and case.merged_into:
        notes += f"：并入 {case.merged_into}"
    return f"{notes}：{latest_note}" if latest_note else notes


def request_of(case: pb.Case, latest_note: str = "") -> dict[str, Any]:
    """One service request, as GET requests and GET requests/{id} show it."""
    place = case.place
    return {
        "service_request_id": case.id,
        "status": status_of(case.state),
        "status_notes": status_notes(case, latest_note),
        "service_name": case.category_name,
        "service_code": case.category_code,
        "description": case.description or case.title,
        "agency_responsible": agency_of(case),
        "service_notice": notice_of(case),
        "requested_datetime": geo_time(case.reported_at, case.HasField("reported_at")),
        "updated_datetime": geo_time(case.updated_at, case.HasField("updated_at")),
        "expected_datetime": geo_time(case.deadline, case.HasField("deadline")),
        "address": place.address,
        "address_id": place.building_id,
        "zipcode": "",
        "lat": place.latitude if place.has_coordinates else None,
        "long": place.longitude if place.has_coordinates else None,
        "media_url": case.photos[0] if case.photos else "",
    }


def latest_note(entries: Iterable[pb.TimelineEntry]) -> str:
    """The newest non-empty note of a case's timeline (oldest first), or ''."""
    notes = [e.note.strip() for e in entries if e.note.strip()]
    return notes[-1] if notes else ""


@dataclass(frozen=True)
class RequestSearch:
    """GET requests: either explicit ids (which override everything else) or a search."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    states: tuple[pb.CaseState.ValueType, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def _one(params: Sequence[tuple[str, str]], name: str) -> str:
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise _refused(
            "parameter_repeated",
            f"参数 {name} 只能出现一次",
            f"{name} is given more than once",
            name,
            "given more than once",
        )
    return values[0].strip() if values else ""


def _listed(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _instant(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _refused(
            "date_invalid",
            f"{name} 不是有效的 ISO 8601 时间，例如 2026-11-23T09:00:00+08:00",
            f"{name} is not an ISO 8601 date-time such as 2026-11-23T09:00:00+08:00",
            name,
            "ISO 8601 date-time",
        ) from None
    # A time without an offset is the residents' wall clock.
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def parse_search(params: Sequence[tuple[str, str]], now: datetime) -> RequestSearch:
    """The GET requests parameters, checked; the window defaults to the last 90 days."""
    ids = tuple(dict.fromkeys(_listed(_one(params, "service_request_id"))))
    if len(ids) > MAX_IDS:
        raise _refused(
            "too_many_ids",
            f"一次最多查询 {MAX_IDS} 个 service_request_id",
            f"at most {MAX_IDS} service_request_id values per call",
            "service_request_id",
            f"at most {MAX_IDS}",
        )
    if ids:
        return RequestSearch(ids=ids)
    codes = tuple(dict.fromkeys(_listed(_one(params, "service_code"))))
    if bad := [c for c in codes if not is_service_code(c)]:
        raise _refused(
            "service_code_invalid",
            f"service_code 应为4位数字：{bad[0][:20]}",
            f"service_code must be 4 digits, not {bad[0][:20]!r}",
            "service_code",
            "4 digits",
        )
    since, until = _window(params, now)
    return RequestSearch(
        service_codes=codes, states=_states(_one(params, "status")), since=since, until=until
    )


def _states(value: str) -> tuple[pb.CaseState.ValueType, ...]:
    wanted = set(_listed(value.lower()))
    if wanted - {"open", "closed"}:
        raise _refused(
            "status_invalid",
            "status 只能是 open 或 closed（可用逗号分隔）",
            "status must be open, closed or both, comma-separated",
            "status",
            "open or closed",
        )
    if len(wanted) != 1:
        return ()  # neither or both: every status
    return tuple(sorted(OPEN_STATES if "open" in wanted else CLOSED_STATES))


def _window(
    params: Sequence[tuple[str, str]], now: datetime
) -> tuple[datetime | None, datetime | None]:
    start = _instant(_one(params, "start_date"), "start_date")
    end = _instant(_one(params, "end_date"), "end_date")
    if start is not None and end is not None:
        if end <= start:
            raise _refused(
                "dates_reversed",
                "end_date 必须晚于 start_date",
                "end_date must be later than start_date",
                "end_date",
                "after start_date",
            )
        if end - start > WINDOW:
            raise _refused(
                "window_too_long",
                "start_date 与 end_date 相隔不能超过 90 天",
                "start_date and end_date may not span more than 90 days",
                "end_date",
                "at most 90 days after start_date",
            )
        return start, end
    if start is not None:
        return start, start + WINDOW
    if end is not None:
        return end - WINDOW, end
    return now - WINDOW, None


def newest_first(cases: Iterable[pb.Case]) -> list[pb.Case]:
    unique = {c.id: c for c in cases}
    return sorted(
        unique.values(), key=lambda c: (c.reported_at.seconds, c.reported_at.nanos), reverse=True
    )


def timestamp_of(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


# ---- service requests: reporting ----


@dataclass(frozen=True)
class NewRequest:
    """A POSTed service request, checked. ``email``, ``device_id`` and ``account_id`` are not
    among these: the reporter is the token's account, and the case keeps no e-mail or device."""

    service_code: str
    place: pb.Place
    reporter_name: str = ""
    phone: str = ""
    description: str = ""
    title: str = ""
    photos: tuple[str, ...] = ()


def parse_new_request(form: Sequence[tuple[str, str]]) -> NewRequest:
    """The POST requests parameters (form fields, in order), checked as the spec asks: a
    service_code and a location — lat and long together, or address_string, or address_id."""
    service_code = _one(form, "service_code")
    if not service_code:
        raise _refused(
            "service_code_missing",
            "缺少 service_code（事件类别编号）",
            "service_code is required",
            "service_code",
            "required",
        )
    attributes = _attributes(form)
    media_url = _one(form, "media_url")
    photos = [_media_url(media_url, "media_url")] if media_url else []
    photos += [
        _media_url(line.strip(), "attribute[more_media_urls]")
        for line in attributes.get("more_media_urls", "").splitlines()
        if line.strip()
    ]
    if len(photos) > MAX_PHOTOS:
        raise _refused(
            "too_many_photos",
            f"照片最多{MAX_PHOTOS}张",
            f"at most {MAX_PHOTOS} photos",
            "attribute[more_media_urls]",
            f"at most {MAX_PHOTOS} with media_url",
        )
    return NewRequest(
        service_code=service_code,
        place=_place(form, attributes),
        reporter_name=_name(_one(form, "first_name"), _one(form, "last_name")),
        phone=_one(form, "phone"),
        description=_one(form, "description"),
        title=attributes.get("title", "").strip(),
        photos=tuple(photos),
    )


def _attributes(form: Sequence[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in form:
        if not key.startswith("attribute["):
            continue
        match = _ATTRIBUTE.fullmatch(key)
        code = match.group(1) if match else ""
        if match is None or code not in ATTRIBUTE_CODES:
            known = ", ".join(sorted(ATTRIBUTE_CODES))
            raise _refused(
                "attribute_unknown",
                f"没有这个属性：{key[:60]}（可用：{known}）",
                f"{key[:60]} is not an attribute of this service; known: {known}",
                key[:60],
                f"one of {known}",
            )
        if match.group(2) or code in found:
            # None of our attributes is a multivaluelist: one value each.
            raise _refused(
                "attribute_repeated",
                f"属性 {code} 只能有一个值",
                f"attribute {code} takes one value",
                f"attribute[{code}]",
                "one value",
            )
        found[code] = value
    return found


def _place(form: Sequence[tuple[str, str]], attributes: Mapping[str, str]) -> pb.Place:
    lat, long = _one(form, "lat"), _one(form, "long")
    address, address_id = _one(form, "address_string"), _one(form, "address_id")
    if bool(lat) != bool(long):
        missing = "long" if lat else "lat"
        raise _refused(
            "coordinates_incomplete",
            "lat 和 long 必须同时提供",
            "lat and long must be sent together",
            missing,
            "required with the other coordinate",
        )
    if not (lat or address or address_id):
        raise _refused(
            "location_missing",
            "请提供位置：lat 和 long，或 address_string，或 address_id",
            "a location is required: lat and long, address_string or address_id",
            "lat",
            "lat+long, address_string or address_id",
        )
    place = pb.Place(
        address=address,
        building_id=address_id,
        complex_id=attributes.get("complex_id", "").strip(),
        dwelling_id=attributes.get("dwelling_id", "").strip(),
    )
    if lat:
        place.has_coordinates = True
        place.latitude = _coordinate(lat, "lat", 90)
        place.longitude = _coordinate(long, "long", 180)
    return place


def _coordinate(value: str, name: str, bound: int) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise _refused(
            "coordinate_invalid",
            f"{name} 应为 -{bound} 到 {bound} 之间的十进制度数（WGS84）",
            f"{name} must be decimal degrees (WGS84) within ±{bound}",
            name,
            f"a number within ±{bound}",
        )
    return number


def _media_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > MAX_URL:
        raise _refused(
            "media_url_invalid",
            f"{name} 应为 http(s) 地址，不超过{MAX_URL}字符",
            f"{name} must be an http(s) URL of at most {MAX_URL} characters",
            name,
            "http(s) URL",
        )
    return value


def _name(first: str, last: str) -> str:
    """Chinese names are family name first and unspaced (王 + 小明 → 王小明)."""
    if _CJK.search(first + last):
        return f"{last}{first}"
    return " ".join(p for p in (first, last) if p)


def report_request(
    new: NewRequest, category: pb.Category, idempotency_key: str = ""
) -> pb.ReportCaseRequest:
    """The case a GeoReport request becomes, reported through Open311."""
    return pb.ReportCaseRequest(
        category_code=category.code,
        title=new.title or title_of(category, new.description),
        description=new.description,
        source=pb.CASE_SOURCE_OPEN311,
        place=new.place,
        photos=list(new.photos),
        reporter_name=new.reporter_name,
        reporter_phone=new.phone,
        idempotency_key=idempotency_key,
    )


def title_of(category: pb.Category, description: str) -> str:
    """The category's name and the start of the description (first line, up to 30 chars)."""
    first_line = description.strip().splitlines()[0].strip() if description.strip() else ""
    if not first_line:
        return category.name[:MAX_TITLE]
    start = first_line if len(first_line) <= 30 else first_line[:30] + "…"
    return f"{category.name}：{start}"[:MAX_TITLE]


def receipt_of(case: pb.Case, account_id: str) -> dict[str, Any]:
    """The answer to POST requests: the case id, what happens next, the reporting account."""
    return {
        "service_request_id": case.id,
        "service_notice": f"{notice_of(case)}。已收到您的反映，可凭编号查询进展。Received; "
        "follow it by its number.",
        "account_id": account_id,
    }


def is_request_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
