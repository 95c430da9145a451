"""The Open311 GeoReport v2 facade without infrastructure: the GeoReport ⇄ cases mapping, the
JSON and XML documents, the error shapes, and the routes against a stand-in cases service and
token verifier (the real ones are in gateway/tests/integration/test_open311.py)."""

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import grpc
import pytest
from fastapi.testclient import TestClient
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.app import GatewayCore, create_app
from gateway.config import GatewaySettings
from gateway.open311.documents import Document, Representation, json_bytes, xml_bytes
from gateway.open311.models import (
    ATTRIBUTE_CODES,
    CLOSED_STATES,
    MAX_PHOTOS,
    OPEN_STATES,
    STATE_LABELS,
    WINDOW,
    Changesets,
    parse_new_request,
    parse_search,
    report_request,
    request_of,
    service_definition,
    service_of,
    status_of,
)
from gateway.open311.refusals import refusal_of
from gateway.tenants.models import TenantKind, TenantNode, TenantStatus
from shequ.cases.v1 import cases_pb2 as pb
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, unauthenticated
from shequ_kit.grpc_server import rich_status_of
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Grant, Principal, Role

HUSHAN = "xiaoshan.shushan.hushan"
SHIBEI = "xiaoshan.beigan.shibei"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
Form = list[tuple[str, str]]

CLUTTER = pb.Category(
    code="0103",
    major_code="01",
    major_name="市容环境",
    name="楼道堆积物",
    acceptance_standard="楼道、消防通道内堆放杂物",
    closing_standard="杂物清除",
    deadline_amount=3,
    deadline_unit=pb.DEADLINE_UNIT_WORKING_DAYS,
    responsible_level=pb.LEVEL_MICRO_GRID,
    enabled=True,
    defined_by="default",
)
FIRE = pb.Category(
    code="0402",
    major_code="04",
    major_name="突发事件",
    name="火灾隐患",
    acceptance_standard="存在火灾隐患",
    deadline_amount=4,
    deadline_unit=pb.DEADLINE_UNIT_WORKING_HOURS,
    responsible_level=pb.LEVEL_GRID,
    urgent=True,
    enabled=True,
)
DISABLED = pb.Category(code="0107", major_code="01", major_name="市容环境", name="不文明养犬")


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


def a_case(**changes: Any) -> pb.Case:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "tenant_id": HUSHAN,
        "number": "20261123-0001",
        "category_code": "0103",
        "category_name": "楼道堆积物",
        "title": "楼道堆积物：3幢2单元楼道堆满纸箱",
        "description": "3幢2单元楼道堆满纸箱",
        "source": pb.CASE_SOURCE_OPEN311,
        "state": pb.CASE_STATE_DISPATCHED,
        "place": pb.Place(
            address="湖山花园3幢", has_coordinates=True, latitude=30.18, longitude=120.26
        ),
        "photos": ["https://img.example.cn/a.jpg"],
        "assignee_name": "陈建国",
        "level": pb.LEVEL_MICRO_GRID,
        "reported_at": stamp(NOW),
        "updated_at": stamp(NOW + timedelta(minutes=5)),
        "deadline": stamp(NOW + timedelta(days=3)),
    }
    return pb.Case(**{**fields, **changes})


# ---- documents ----


def test_xml_documents_name_list_items_after_their_container_and_escape_values() -> None:
    document = Document(
        "services",
        [
            {"service_code": "0103", "service_name": "A&B <script>", "metadata": True},
            {"service_code": "0402", "service_name": None, "metadata": False},
        ],
    )
    body = xml_bytes(document)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == "services"
    assert [s.tag for s in root] == ["service", "service"]
    assert root[0].findtext("service_name") == "A&B <script>"
    assert [s.findtext("metadata") for s in root] == ["true", "false"]
    assert root[1].findtext("service_name") == ""
    assert json.loads(json_bytes(document)) == document.body


def test_xml_drops_characters_xml_cannot_carry_but_keeps_chinese_and_line_breaks() -> None:
    body = xml_bytes(
        Document("errors", [{"code": 400, "description": "楼道\x00堆\x08积物\n第二行"}])
    )
    assert ET.fromstring(body)[0].findtext("description") == "楼道堆积物\n第二行"


def test_nested_lists_get_their_own_item_names() -> None:
    root = ET.fromstring(xml_bytes(Document("service_definition", service_definition(CLUTTER))))
    attributes = root.find("attributes")
    assert attributes is not None
    assert {a.findtext("code") for a in attributes.findall("attribute")} == ATTRIBUTE_CODES
    assert [a.findtext("order") for a in attributes] == ["1", "2", "3", "4"]


def test_a_format_other_than_json_or_xml_is_not_found() -> None:
    assert Representation.of_suffix("xml") is Representation.XML
    with pytest.raises(DomainError) as refused:
        Representation.of_suffix("csv")
    assert refused.value.kind is ErrorKind.NOT_FOUND


# ---- services ----


def test_a_category_is_a_realtime_service_grouped_by_its_major_class() -> None:
    service = service_of(FIRE)
    assert service == {
        "service_code": "0402",
        "service_name": "火灾隐患",
        "description": "存在火灾隐患",
        "metadata": True,
        "type": "realtime",
        "keywords": "突发事件, 火灾隐患, 紧急",
        "group": "突发事件",
    }


def test_every_declared_attribute_is_optional_and_asks_for_input() -> None:
    for attribute in service_definition(CLUTTER)["attributes"]:
        assert attribute["variable"] is True
        assert attribute["required"] is False
        assert attribute["datatype"] in ("string", "text")
        assert attribute["description"]
        assert attribute["datatype_description"]


def test_the_changeset_moves_only_when_the_service_list_changes() -> None:
    changesets = Changesets()
    first = changesets.changeset(HUSHAN, [CLUTTER, FIRE], NOW)
    assert changesets.changeset(HUSHAN, [CLUTTER, FIRE], NOW + timedelta(hours=1)) == first
    edited = pb.Category()
    edited.CopyFrom(FIRE)
    edited.deadline_amount = 2
    later = NOW + timedelta(hours=2)
    assert changesets.changeset(HUSHAN, [CLUTTER, edited], later) == later
    assert changesets.changeset(SHIBEI, [CLUTTER, FIRE], later) == later


# ---- reading requests ----


def test_every_state_is_open_or_closed_and_has_a_label() -> None:
    states = set(pb.CaseState.values()) - {pb.CASE_STATE_UNSPECIFIED}
    assert states == OPEN_STATES | CLOSED_STATES
    assert not OPEN_STATES & CLOSED_STATES
    assert set(STATE_LABELS) == states
    for state in (pb.CASE_STATE_CLOSED, pb.CASE_STATE_RATED, pb.CASE_STATE_MERGED):
        assert status_of(state) == "closed"
    for state in (pb.CASE_STATE_REPORTED, pb.CASE_STATE_RESOLVED, pb.CASE_STATE_SUSPENDED):
        assert status_of(state) == "open"


def test_a_dispatched_case_reads_as_an_open_request_due_at_its_deadline() -> None:
    case = a_case()
    shown = request_of(case, "已联系物业")
    assert shown["service_request_id"] == case.id
    assert shown["status"] == "open"
    assert shown["status_notes"] == "已派遣 Dispatched：已联系物业"
    assert shown["agency_responsible"] == "微网格：陈建国"
    assert shown["requested_datetime"] == "2026-11-23T10:00:00+08:00"
    assert shown["expected_datetime"] == "2026-11-26T10:00:00+08:00"
    assert "20261123-0001" in shown["service_notice"]
    assert (shown["lat"], shown["long"]) == (30.18, 120.26)
    assert shown["media_url"] == "https://img.example.cn/a.jpg"


def test_a_case_without_coordinates_or_deadline_leaves_those_fields_empty() -> None:
    case = a_case(
        place=pb.Place(address="湖山花园"), state=pb.CASE_STATE_REPORTED, photos=[], deadline=None
    )
    shown = request_of(case)
    assert (shown["lat"], shown["long"], shown["expected_datetime"]) == (None, None, None)
    assert shown["media_url"] == ""
    root = ET.fromstring(xml_bytes(Document("service_requests", [shown])))
    assert root[0].tag == "request"
    assert root[0].findtext("lat") == ""
    assert root[0].findtext("status") == "open"


def test_search_defaults_to_the_last_90_days_of_every_status() -> None:
    search = parse_search([], NOW)
    assert (search.since, search.until, search.states) == (NOW - WINDOW, None, ())


def test_search_by_status_asks_for_the_matching_states() -> None:
    assert set(parse_search([("status", "closed")], NOW).states) == CLOSED_STATES
    assert set(parse_search([("status", "open")], NOW).states) == OPEN_STATES
    assert parse_search([("status", "open,closed")], NOW).states == ()


def test_search_dates_without_offset_are_beijing_time_and_span_at_most_90_days() -> None:
    search = parse_search([("start_date", "2026-11-01T00:00:00")], NOW)
    assert search.since == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert search.until == datetime(2026, 10, 31, 16, tzinfo=UTC) + WINDOW
    with pytest.raises(DomainError) as too_long:
        parse_search([("start_date", "2026-01-01"), ("end_date", "2026-06-01")], NOW)
    assert too_long.value.field_violations[0].field == "end_date"
    with pytest.raises(DomainError) as reversed_:
        parse_search([("start_date", "2026-06-01"), ("end_date", "2026-01-01")], NOW)
    assert reversed_.value.field_violations[0].field == "end_date"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ([("status", "pending")], "status"),
        ([("start_date", "yesterday")], "start_date"),
        ([("service_code", "01x3")], "service_code"),
        ([("service_request_id", ",".join(str(uuid.uuid4()) for _ in range(101)))], None),
        ([("status", "open"), ("status", "closed")], "status"),
    ],
)
def test_bad_search_parameters_are_refused_naming_them(params: Form, field: str | None) -> None:
    with pytest.raises(DomainError) as refused:
        parse_search(params, NOW)
    assert refused.value.kind is ErrorKind.INVALID_INPUT
    assert refused.value.field_violations[0].field == (field or "service_request_id")


def test_explicit_ids_override_every_other_parameter() -> None:
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    search = parse_search([("service_request_id", f"{one}, {two},{one}"), ("status", "x")], NOW)
    assert search.ids == (one, two)


# ---- reporting ----


def report_form(*extra: tuple[str, str]) -> Form:
    return [("jurisdiction_id", HUSHAN), ("service_code", "0103"), *extra]


def test_a_located_report_becomes_an_open311_case_with_its_place_people_and_photos() -> None:
    building = str(uuid.uuid4())
    new = parse_new_request(
        report_form(
            ("lat", "30.18"),
            ("long", "120.26"),
            ("address_id", building),
            ("first_name", "小明"),
            ("last_name", "王"),
            ("phone", "13812345678"),
            ("description", "3幢2单元楼道堆满纸箱，已经一周了，影响通行"),
            ("media_url", "https://img.example.cn/a.jpg"),
            ("attribute[more_media_urls]", "https://img.example.cn/b.jpg\n\nhttp://x.cn/c.png"),
            ("email", "wang@example.cn"),
            ("device_id", "ios-1"),
        )
    )
    request = report_request(new, CLUTTER, "retry-1")
    assert request.source == pb.CASE_SOURCE_OPEN311
    assert request.category_code == "0103"
    assert request.place.has_coordinates
    assert (request.place.latitude, request.place.longitude) == (30.18, 120.26)
    assert request.place.building_id == building
    assert request.reporter_name == "王小明"
    assert request.reporter_phone == "13812345678"
    assert request.title == "楼道堆积物：3幢2单元楼道堆满纸箱，已经一周了，影响通行"
    assert list(request.photos) == [
        "https://img.example.cn/a.jpg",
        "https://img.example.cn/b.jpg",
        "http://x.cn/c.png",
    ]
    assert request.idempotency_key == "retry-1"


def test_an_address_alone_is_a_location_and_the_title_attribute_wins() -> None:
    complex_id = str(uuid.uuid4())
    new = parse_new_request(
        report_form(
            ("address_string", "湖山花园 3幢 楼道"),
            ("attribute[title]", "楼道纸箱"),
            ("attribute[complex_id]", complex_id),
            ("first_name", "Ming"),
            ("last_name", "Wang"),
        )
    )
    request = report_request(new, CLUTTER)
    assert not request.place.has_coordinates
    assert request.place.address == "湖山花园 3幢 楼道"
    assert request.place.complex_id == complex_id
    assert request.title == "楼道纸箱"
    assert request.reporter_name == "Ming Wang"


def test_a_long_description_is_cut_in_the_title_but_kept_whole() -> None:
    description = "楼" * 80
    request = report_request(
        parse_new_request(report_form(("address_string", "x"), ("description", description))),
        CLUTTER,
    )
    assert request.title == f"楼道堆积物：{'楼' * 30}…"
    assert request.description == description


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ([], "lat"),
        ([("lat", "30.1")], "long"),
        ([("long", "120.2")], "lat"),
        ([("lat", "north"), ("long", "120.2")], "lat"),
        ([("lat", "nan"), ("long", "120.2")], "lat"),
        ([("lat", "30.1"), ("long", "181")], "long"),
        ([("address_string", "x"), ("media_url", "javascript:alert(1)")], "media_url"),
        ([("address_string", "x"), ("attribute[colour]", "red")], "attribute[colour]"),
        ([("address_string", "x"), ("attribute[title][]", "a")], "attribute[title]"),
        (
            [("address_string", "x"), ("attribute[more_media_urls]", "ftp://x.cn/a.jpg")],
            "attribute[more_media_urls]",
        ),
        (
            [
                ("address_string", "x"),
                ("attribute[more_media_urls]", "\n".join(f"https://x.cn/{n}" for n in range(10))),
            ],
            "attribute[more_media_urls]",
        ),
        ([("address_string", "x"), ("service_code", "0104")], "service_code"),
    ],
)
def test_bad_reports_are_refused_naming_the_parameter(extra: Form, field: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_new_request(report_form(*extra))
    assert refused.value.kind is ErrorKind.INVALID_INPUT
    assert refused.value.field_violations[0].field == field


def test_a_report_without_service_code_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        parse_new_request([("address_string", "湖山花园")])
    assert refused.value.field_violations[0].field == "service_code"


def test_photos_are_limited_together() -> None:
    urls = "\n".join(f"https://x.cn/{n}.jpg" for n in range(MAX_PHOTOS - 1))
    new = parse_new_request(
        report_form(
            ("address_string", "x"),
            ("media_url", "https://x.cn/first.jpg"),
            ("attribute[more_media_urls]", urls),
        )
    )
    assert len(new.photos) == MAX_PHOTOS


# ---- refusals ----


class FailedCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]  # grpc is untyped
    """What a stub raises when a call fails, as far as the refusal table looks at it."""

    def __init__(self, code: grpc.StatusCode, error: DomainError | None = None) -> None:
        status = rich_status_of(error) if error else None
        self._code = code
        self._details = status.details if status else "internal words"
        self._metadata = status.trailing_metadata if status else ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return str(self._details)

    def trailing_metadata(self) -> Any:
        return self._metadata

    def initial_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def test_the_services_invalid_input_is_a_400_naming_the_geo_report_parameter() -> None:
    error = invalid_input(
        "cases.place_invalid",
        "楼幢编号不正确",
        "place.building_id is not a UUID",
        FieldViolation("place.building_id", "a UUID"),
    )
    refusal = refusal_of(FailedCall(grpc.StatusCode.INVALID_ARGUMENT, error))
    assert refusal.status == 400
    assert refusal.code == "cases.place_invalid"
    assert refusal.fields == (FieldViolation("address_id", "a UUID"),)
    assert refusal.descriptions() == [
        "楼幢编号不正确 place.building_id is not a UUID",
        "address_id: a UUID",
    ]


def test_a_services_unexpected_failure_is_a_502_in_generic_words() -> None:
    refusal = refusal_of(FailedCall(grpc.StatusCode.INTERNAL))
    assert refusal.status == 502
    assert "internal words" not in refusal.message_en


def test_domain_errors_keep_their_status_except_invalid_input() -> None:
    assert refusal_of(unauthenticated("no token")).status == 401
    assert refusal_of(FailedCall(grpc.StatusCode.UNAVAILABLE)).status == 503
    assert refusal_of(FailedCall(grpc.StatusCode.PERMISSION_DENIED)).status == 403


# ---- the routes, against stand-ins ----


class StandInCases:
    """Answers like the cases service for one community's categories and cases."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Message]] = []
        self.categories = [CLUTTER, FIRE, DISABLED]
        self.cases: dict[str, pb.Case] = {}

    def ListCategories(self, request: pb.ListCategoriesRequest, **_: Any) -> Message:  # noqa: N802 - the stub's names
        self.calls.append(("ListCategories", request))
        return pb.ListCategoriesResponse(categories=[c for c in self.categories if c.enabled])

    def GetCategory(self, request: pb.GetCategoryRequest, **_: Any) -> Message:  # noqa: N802 - the stub's names
        self.calls.append(("GetCategory", request))
        for category in self.categories:
            if category.code == request.code:
                return pb.GetCategoryResponse(category=category)
        raise FailedCall(grpc.StatusCode.NOT_FOUND)

    def ReportCase(self, request: pb.ReportCaseRequest, **_: Any) -> Message:  # noqa: N802 - the stub's names
        self.calls.append(("ReportCase", request))
        case = a_case(
            state=pb.CASE_STATE_REPORTED, category_code=request.category_code, place=request.place
        )
        self.cases[case.id] = case
        return pb.ReportCaseResponse(case=case)

    def GetCase(self, request: pb.GetCaseRequest, **_: Any) -> Message:  # noqa: N802 - the stub's names
        self.calls.append(("GetCase", request))
        if request.case_id not in self.cases:
            raise FailedCall(grpc.StatusCode.NOT_FOUND)
        return pb.GetCaseResponse(case=self.cases[request.case_id])

    def ListCases(self, request: pb.ListCasesRequest, **_: Any) -> Message:  # noqa: N802 - the stub's names
        self.calls.append(("ListCases", request))
        return pb.ListCasesResponse(cases=list(self.cases.values()))

    def ListTimeline(self, request: pb.ListTimelineRequest, **_: Any) -> Message:  # noqa: N802 - the stub's names
        self.calls.append(("ListTimeline", request))
        return pb.ListTimelineResponse(
            entries=[pb.TimelineEntry(note="已受理"), pb.TimelineEntry(note="")]
        )

    def called(self, method: str) -> list[Any]:
        return [request for name, request in self.calls if name == method]


class StandInVerifier:
    def __init__(self, *principals: Principal) -> None:
        self.principals = {p.token: p for p in principals}

    def verify(self, token: str) -> Principal:
        if token not in self.principals:
            raise unauthenticated("token rejected")
        return self.principals[token]


class StandInRegistry:
    @contextmanager
    def __call__(self) -> Iterator[Any]:
        yield SimpleNamespace(
            get=lambda _model, tenant: TenantNode(
                tenant_id=tenant,
                kind=TenantKind.COMMUNITY,
                name_zh="湖山社区",
                name_en="Hushan",
                status=TenantStatus.ACTIVE,
            )
        )


def principal(name: str, role: Role, tenant: str) -> Principal:
    return Principal(
        subject=f"subject-{name}",
        username=name,
        grants=frozenset({Grant(role, TenantId(tenant))}),
        token=f"token-{name}",
        expires_at=NOW + timedelta(hours=1),
    )


RESIDENT = principal("hushan-resident", Role.RESIDENT, HUSHAN)
FOREIGN = principal("shibei-staff", Role.COMMUNITY_STAFF, SHIBEI)
HEADERS = {"Authorization": f"Bearer {RESIDENT.token}"}
ROUTES = [
    ("get", "/discovery"),
    ("get", "/services"),
    ("get", "/services/0103"),
    ("post", "/requests"),
    ("get", "/requests"),
    ("get", f"/requests/{uuid.uuid4()}"),
]


@pytest.fixture
def cases() -> StandInCases:
    return StandInCases()


@pytest.fixture
def api(cases: StandInCases) -> TestClient:
    core = SimpleNamespace(
        settings=GatewaySettings(),
        verifier=StandInVerifier(RESIDENT, FOREIGN),
        cases=cases,
        sessions=StandInRegistry(),
    )
    return TestClient(create_app(cast(GatewayCore, core)), raise_server_exceptions=False)


def geo(path: str, fmt: str = "json", tenant: str = HUSHAN) -> str:
    return f"/open311/v2/{tenant}{path}.{fmt}"


def post_form(api: TestClient, form: Form, fmt: str = "json", **kwargs: Any) -> Any:
    return api.post(geo("/requests", fmt), data=dict(form), **kwargs)


def geo_errors(response: Any, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    errors: list[dict[str, Any]] = response.json()
    assert errors
    assert all(e["code"] == status and e["description"] for e in errors)
    return errors


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_caller_without_a_token(
    api: TestClient, cases: StandInCases, method: str, path: str
) -> None:
    response = api.request(
        method, geo(path), data={"service_code": "0103"} if method == "post" else None
    )
    geo_errors(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert cases.calls == []


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_caller_of_another_community_in_xml_too(
    api: TestClient, cases: StandInCases, method: str, path: str
) -> None:
    response = api.request(
        method,
        geo(path, "xml"),
        headers={"Authorization": f"Bearer {FOREIGN.token}"},
        data={"service_code": "0103", "address_string": "x"} if method == "post" else None,
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert (root.tag, root[0].tag, root[0].findtext("code")) == ("errors", "error", "403")
    assert cases.calls == []


def test_a_forged_api_key_is_refused_and_a_valid_one_accepted(
    api: TestClient, cases: StandInCases
) -> None:
    geo_errors(api.get(geo("/services"), params={"api_key": "forged"}), 401)
    listed = api.get(geo("/services"), params={"api_key": RESIDENT.token})
    assert listed.status_code == 200
    assert [s["service_code"] for s in listed.json()] == ["0103", "0402"]


def test_a_form_post_with_api_key_reports_an_open311_case(
    api: TestClient, cases: StandInCases
) -> None:
    response = post_form(
        api,
        report_form(("api_key", RESIDENT.token), ("lat", "30.18"), ("long", "120.26")),
    )
    assert response.status_code == 201, response.text
    [receipt] = response.json()
    [reported] = cases.called("ReportCase")
    assert reported.source == pb.CASE_SOURCE_OPEN311
    assert reported.place.latitude == 30.18
    assert receipt["service_request_id"] in cases.cases
    assert receipt["account_id"] == RESIDENT.subject
    assert response.headers["location"].endswith(
        f"/open311/v2/{HUSHAN}/requests/{receipt['service_request_id']}.json"
    )


def test_a_multipart_post_is_read_like_a_form_and_files_are_refused(
    api: TestClient, cases: StandInCases
) -> None:
    posted = api.post(
        geo("/requests", "xml"),
        headers=HEADERS,
        data=dict(report_form(("address_string", "湖山花园"))),
        files={"note": (None, "multipart text field")},
    )
    assert posted.status_code == 201, posted.text
    root = ET.fromstring(posted.content)
    assert root.tag == "service_requests"
    assert root[0].findtext("service_request_id") in cases.cases
    with_file = api.post(
        geo("/requests"),
        headers=HEADERS,
        data=dict(report_form(("address_string", "湖山花园"))),
        files={"media": ("a.jpg", b"\xff\xd8", "image/jpeg")},
    )
    geo_errors(with_file, 400)


def test_a_json_body_is_not_a_geo_report_post(api: TestClient, cases: StandInCases) -> None:
    response = api.post(geo("/requests"), headers=HEADERS, json=dict(report_form()))
    geo_errors(response, 415)
    assert cases.called("ReportCase") == []


def test_a_jurisdiction_other_than_the_paths_tenant_is_refused(
    api: TestClient, cases: StandInCases
) -> None:
    form = [("jurisdiction_id", SHIBEI), ("service_code", "0103"), ("address_string", "x")]
    errors = geo_errors(post_form(api, form, headers=HEADERS), 400)
    assert any("jurisdiction_id" in e["description"] for e in errors)
    geo_errors(api.get(geo("/services"), headers=HEADERS, params={"jurisdiction_id": "x"}), 400)
    assert cases.called("ReportCase") == []


def test_unknown_and_disabled_services_are_not_found_and_cannot_be_reported(
    api: TestClient, cases: StandInCases
) -> None:
    geo_errors(api.get(geo("/services/0199"), headers=HEADERS), 404)
    geo_errors(api.get(geo("/services/0107"), headers=HEADERS), 404)
    geo_errors(api.get(geo("/services/drop table"), headers=HEADERS), 404)
    form = [("service_code", "0107"), ("address_string", "x")]
    errors = geo_errors(post_form(api, form, headers=HEADERS), 400)
    assert any(e["description"].startswith("service_code") for e in errors)
    assert cases.called("ReportCase") == []


def test_problem_json_is_answered_when_asked_for(api: TestClient) -> None:
    response = api.get(
        geo("/services/0199"), headers={**HEADERS, "Accept": "application/problem+json"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "open311.service_not_found"
    invalid = post_form(
        api,
        [("service_code", "0103"), ("lat", "95"), ("long", "120")],
        headers={**HEADERS, "Accept": "application/problem+json"},
    )
    assert invalid.status_code == 400
    assert [e["field"] for e in invalid.json()["errors"]] == ["lat"]


def test_unknown_formats_and_resources_are_geo_report_404s(api: TestClient) -> None:
    geo_errors(api.get(geo("/services", "csv"), headers=HEADERS), 404)
    geo_errors(api.get(f"/open311/v2/{HUSHAN}/tokens/1.json", headers=HEADERS), 404)
    xml = api.get(f"/open311/v2/{HUSHAN}/nothing.xml", headers=HEADERS)
    assert xml.status_code == 404
    assert ET.fromstring(xml.content).tag == "errors"


def test_a_search_by_status_asks_the_service_for_those_states_in_the_last_90_days(
    api: TestClient, cases: StandInCases
) -> None:
    response = api.get(geo("/requests"), headers=HEADERS, params={"status": "closed"})
    assert response.status_code == 200
    [asked] = cases.called("ListCases")
    assert set(asked.states) == CLOSED_STATES
    since = asked.since.ToDatetime(tzinfo=UTC)
    assert timedelta(days=89) < datetime.now(UTC) - since <= WINDOW + timedelta(minutes=1)


def test_several_service_codes_are_searched_one_by_one(
    api: TestClient, cases: StandInCases
) -> None:
    api.get(geo("/requests"), headers=HEADERS, params={"service_code": "0103,0402"})
    assert [r.category_code for r in cases.called("ListCases")] == ["0103", "0402"]


def test_one_request_shows_its_latest_note_and_unknown_ids_are_not_found(
    api: TestClient, cases: StandInCases
) -> None:
    case = a_case()
    cases.cases[case.id] = case
    [shown] = api.get(geo(f"/requests/{case.id}"), headers=HEADERS).json()
    assert shown["status_notes"] == "已派遣 Dispatched：已受理"
    geo_errors(api.get(geo(f"/requests/{uuid.uuid4()}"), headers=HEADERS), 404)
    geo_errors(api.get(geo("/requests/not-an-id"), headers=HEADERS), 404)
    listed = api.get(
        geo("/requests"),
        headers=HEADERS,
        params={"service_request_id": f"{case.id},{uuid.uuid4()},junk"},
    )
    assert [r["service_request_id"] for r in listed.json()] == [case.id]


def test_discovery_names_this_tenants_endpoint_and_both_formats(api: TestClient) -> None:
    response = api.get(geo("/discovery", "xml"), headers=HEADERS)
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    endpoint = root.find("endpoints/endpoint")
    assert endpoint is not None
    assert endpoint.findtext("url", "").endswith(f"/open311/v2/{HUSHAN}")
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in endpoint.findall("formats/format")] == [
        "application/json",
        "text/xml",
    ]
    assert "湖山社区" in root.findtext("contact", "")
