"""The Open311 GeoReport v2 facade spoken as a GeoReport client speaks it: discovery, services,
a service definition, form-encoded POSTs (coordinates, an address, an api_key instead of the
header), GET requests by id and by status, in JSON and in XML read with a real XML parser.

Behind the gateway run real census, grid and cases gRPC servers (``cases_service`` in
conftest.py) with real Keycloak tokens and the real Kafka broker between census and grid. The
cases are Shibei's; Hushan's staff try every route and are refused.
"""

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import GatewayCore, create_app
from gateway.open311 import views as open311_views
from shequ_infra.forged_tokens import claims_of, with_tampered_claims
from shequ_infra.rest_checks import auth
from shequ_infra.rest_checks import tenant_url as url
from shequ_kit.tokens import TokenVerifier

Login = Callable[..., str]
Headers = dict[str, str]
SHIBEI = "xiaoshan.beigan.shibei"
HUSHAN = "xiaoshan.shushan.hushan"
CASES_DATABASE = "gateway_open311"
CLUTTER = "0103"  # 楼道堆积物: 3 working days, micro-grid level
FURNITURE = "0105"  # 废弃家具设备
ATTRIBUTES = {"title", "complex_id", "dwelling_id", "more_media_urls"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Every GeoReport route; the ids are filled in per test.
GEO_ROUTES = [
    ("get", "/discovery"),
    ("get", "/services"),
    ("get", "/services/{service_code}"),
    ("post", "/requests"),
    ("get", "/requests"),
    ("get", "/requests/{service_request_id}"),
]


def geo(path: str, fmt: str = "json", tenant: str = SHIBEI) -> str:
    return f"/open311/v2/{tenant}{path}.{fmt}"


def ok_json(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


def ok_xml(response: httpx.Response, status: int = 200) -> ET.Element:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.content)


def geo_errors(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    """The GeoReport error list: ``[{"code": status, "description": …}]`` with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    errors: list[dict[str, Any]] = response.json()
    assert errors
    assert all(e["code"] == status and e["description"] for e in errors)
    return errors


def xml_errors(response: httpx.Response, status: int) -> list[ET.Element]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "errors"
    errors = root.findall("error")
    assert errors
    assert all(e.findtext("code") == str(status) and e.findtext("description") for e in errors)
    return errors


def post_request(
    api: TestClient, headers: Headers, fmt: str = "json", **fields: str
) -> httpx.Response:
    """A GeoReport POST exactly as a client sends it: form-encoded, jurisdiction_id named."""
    form = {"jurisdiction_id": SHIBEI, **fields}
    response: httpx.Response = api.post(
        geo("/requests", fmt), headers={**FORM, **headers}, content=urlencode(form)
    )
    return response


def reported_id(response: httpx.Response) -> str:
    [receipt] = ok_json(response, 201)
    assert receipt["service_notice"]
    return str(receipt["service_request_id"])


# ---- who is who ----


@pytest.fixture(scope="module")
def api(cases_api: TestClient, core: GatewayCore) -> TestClient:
    # ``core`` migrates and seeds the gateway's tenant registry, which discovery reads.
    return cases_api


@pytest.fixture(scope="module")
def resident(token_of: Login) -> Headers:
    return auth(token_of("shibei-resident"))


@pytest.fixture(scope="module")
def staff(token_of: Login) -> Headers:
    return auth(token_of("shibei-staff"))


@pytest.fixture(scope="module")
def building(api: TestClient, staff: Headers) -> str:
    """A building of Shibei's census, as a GeoReport client's address_id."""
    complex_ = api.post(url(SHIBEI, "/complexes"), headers=staff, json={"name": "望江苑"})
    assert complex_.status_code == 201, complex_.text
    created = api.post(
        url(SHIBEI, "/buildings"),
        headers=staff,
        json={"complex_id": complex_.json()["id"], "number": "5幢", "floors": 11},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


# ---- discovery and services ----


def test_discovery_names_this_communitys_endpoint_in_json_and_xml(
    api: TestClient, resident: Headers
) -> None:
    found = ok_json(api.get(geo("/discovery"), headers=resident))
    [endpoint] = found["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith(f"/open311/v2/{SHIBEI}")
    assert endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"application/json", "text/xml"}
    assert "市北" in found["contact"]
    assert "api_key" in found["key_service"]
    assert datetime.fromisoformat(found["changeset"]).utcoffset() is not None

    root = ok_xml(api.get(geo("/discovery", "xml"), headers=resident))
    assert root.tag == "discovery"
    assert root.findtext("changeset") == found["changeset"]
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "application/json",
        "text/xml",
    ]


def test_services_are_the_category_catalogue_in_json_and_xml(
    api: TestClient, resident: Headers
) -> None:
    services = ok_json(api.get(geo("/services"), headers=resident))
    by_code = {s["service_code"]: s for s in services}
    clutter = by_code[CLUTTER]
    assert clutter["service_name"] == "楼道堆积物"
    assert clutter["group"] == "市容环境"
    assert clutter["description"]  # the acceptance standard
    assert (clutter["metadata"], clutter["type"]) == (True, "realtime")
    assert {s["group"] for s in services} >= {"市容环境", "突发事件", "矛盾纠纷", "反诈"}

    root = ok_xml(api.get(geo("/services", "xml"), headers=resident))
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == [
        s["service_code"] for s in services
    ]
    xml_clutter = next(s for s in root if s.findtext("service_code") == CLUTTER)
    assert xml_clutter.findtext("service_name") == "楼道堆积物"
    assert xml_clutter.findtext("metadata") == "true"


def test_a_service_definition_lists_the_attributes_a_report_takes(
    api: TestClient, resident: Headers
) -> None:
    definition = ok_json(api.get(geo(f"/services/{CLUTTER}"), headers=resident))
    assert definition["service_code"] == CLUTTER
    assert {a["code"] for a in definition["attributes"]} == ATTRIBUTES
    assert [a["order"] for a in definition["attributes"]] == [1, 2, 3, 4]

    root = ok_xml(api.get(geo(f"/services/{CLUTTER}", "xml"), headers=resident))
    assert root.tag == "service_definition"
    attributes = root.findall("attributes/attribute")
    assert {a.findtext("code") for a in attributes} == ATTRIBUTES
    assert {a.findtext("variable") for a in attributes} == {"true"}


def test_an_unknown_service_is_a_geo_report_404_and_a_problem_when_asked(
    api: TestClient, resident: Headers
) -> None:
    geo_errors(api.get(geo("/services/0999"), headers=resident), 404)
    xml_errors(api.get(geo("/services/0999", "xml"), headers=resident), 404)
    problem = api.get(
        geo("/services/0999"), headers={**resident, "Accept": "application/problem+json"}
    )
    assert problem.status_code == 404
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["code"] == "open311.service_not_found"
    assert problem.json()["detail"]
    assert problem.json()["detail_en"]


# ---- reporting and reading back ----


@pytest.fixture(scope="module")
def located(api: TestClient, resident: Headers, building: str) -> str:
    """A resident's report with coordinates at a census building: routed at once."""
    return reported_id(
        post_request(
            api,
            resident,
            service_code=CLUTTER,
            lat="30.1792",
            long="120.2703",
            address_id=building,
            description="5幢3单元楼道堆满纸箱，消防通道被挡",
            first_name="秀英",
            last_name="李",
            phone="13912345678",
            media_url="https://img.example.cn/wjy-5-3.jpg",
            email="li@example.cn",
        )
    )


@pytest.fixture(scope="module")
def addressed(api: TestClient, resident: Headers) -> str:
    """A resident's report with an address only: it waits for staff to accept it."""
    return reported_id(
        post_request(api, resident, service_code=FURNITURE, address_string="望江苑北门垃圾房旁")
    )


def test_a_report_with_coordinates_is_an_open_request_with_its_deadline(
    api: TestClient, resident: Headers, staff: Headers, located: str, building: str
) -> None:
    [request] = ok_json(api.get(geo(f"/requests/{located}"), headers=resident))
    assert request["service_request_id"] == located
    assert (request["status"], request["service_code"]) == ("open", CLUTTER)
    assert request["service_name"] == "楼道堆积物"
    assert (request["lat"], request["long"]) == (30.1792, 120.2703)
    assert request["address_id"] == building
    assert request["media_url"] == "https://img.example.cn/wjy-5-3.jpg"
    requested = datetime.fromisoformat(request["requested_datetime"])
    expected = datetime.fromisoformat(request["expected_datetime"])
    assert request["expected_datetime"].endswith("+08:00")
    assert expected > requested
    assert request["agency_responsible"]

    root = ok_xml(api.get(geo(f"/requests/{located}", "xml"), headers=resident))
    assert root.tag == "service_requests"
    [element] = root.findall("request")
    assert element.findtext("service_request_id") == located
    assert element.findtext("status") == "open"
    assert element.findtext("expected_datetime") == request["expected_datetime"]
    assert element.findtext("lat") == "30.1792"

    # The same case through the REST API: reported through Open311, reporter and place kept.
    case = api.get(url(SHIBEI, f"/cases/{located}"), headers=staff).json()
    assert case["source"] == "open311"
    assert case["state"] == "dispatched"
    assert case["reporter_name"] == "李秀英"
    assert case["reporter_phone"] == "139****5678"
    assert case["title"].startswith("楼道堆积物：5幢3单元")


def test_a_report_with_an_address_only_waits_to_be_accepted(
    api: TestClient, resident: Headers, addressed: str
) -> None:
    [request] = ok_json(api.get(geo(f"/requests/{addressed}"), headers=resident))
    assert request["status"] == "open"
    assert request["address"] == "望江苑北门垃圾房旁"
    assert (request["lat"], request["long"]) == (None, None)
    assert request["expected_datetime"] is None
    assert request["status_notes"].startswith("已上报")


def test_a_client_that_can_only_send_api_key_reports_and_reads(
    api: TestClient, resident: Headers
) -> None:
    token = resident["Authorization"].removeprefix("Bearer ")
    response = post_request(
        api, {}, service_code=CLUTTER, address_string="望江苑2幢", api_key=token
    )
    request_id = reported_id(response)
    [request] = ok_json(api.get(geo(f"/requests/{request_id}"), params={"api_key": token}))
    assert request["address"] == "望江苑2幢"
    geo_errors(api.get(geo(f"/requests/{request_id}"), params={"api_key": token + "x"}), 401)


def test_a_report_in_xml_answers_in_xml(api: TestClient, resident: Headers) -> None:
    root = ok_xml(
        post_request(
            api,
            resident,
            "xml",
            service_code=CLUTTER,
            address_string="望江苑3幢",
            **{"attribute[title]": "3幢楼道纸箱"},
        ),
        201,
    )
    [receipt] = root.findall("request")
    request_id = receipt.findtext("service_request_id")
    assert request_id
    assert (
        receipt.findtext("account_id")
        == claims_of(resident["Authorization"].removeprefix("Bearer "))["sub"]
    )
    [shown] = ok_json(api.get(geo(f"/requests/{request_id}"), headers=resident))
    assert shown["service_code"] == CLUTTER


@pytest.fixture(scope="module")
def closed(api: TestClient, resident: Headers, staff: Headers, building: str) -> str:
    """A resident's report that staff resolve, verify and close through the REST API."""
    request_id = reported_id(
        post_request(
            api, resident, service_code=CLUTTER, lat="30.18", long="120.27", address_id=building
        )
    )
    for action, note in (
        ("resolve", "已通知物业清运纸箱"),
        ("verify", "现场核查，楼道畅通"),
        ("close", "已清理完毕，结案"),
    ):
        case = api.get(url(SHIBEI, f"/cases/{request_id}"), headers=staff).json()
        taken = api.post(
            url(SHIBEI, f"/cases/{request_id}/actions"),
            headers=staff,
            json={"action": action, "expected_version": case["version"], "note": note},
        )
        assert taken.status_code == 200, taken.text
    return request_id


def test_a_case_staff_closed_is_a_closed_request_with_their_note(
    api: TestClient, resident: Headers, closed: str
) -> None:
    [request] = ok_json(api.get(geo(f"/requests/{closed}"), headers=resident))
    assert request["status"] == "closed"
    assert request["status_notes"] == "已结案 Closed：已清理完毕，结案"
    root = ok_xml(api.get(geo(f"/requests/{closed}", "xml"), headers=resident))
    assert root.findtext("request/status") == "closed"


def test_requests_filter_by_status_in_json_and_xml(
    api: TestClient, resident: Headers, located: str, addressed: str, closed: str
) -> None:
    open_ids = {
        r["service_request_id"]
        for r in ok_json(api.get(geo("/requests"), headers=resident, params={"status": "open"}))
    }
    assert {located, addressed} <= open_ids
    assert closed not in open_ids
    root = ok_xml(api.get(geo("/requests", "xml"), headers=resident, params={"status": "closed"}))
    closed_ids = {r.findtext("service_request_id") for r in root.findall("request")}
    assert closed in closed_ids
    assert not {located, addressed} & closed_ids
    assert {r.findtext("status") for r in root.findall("request")} == {"closed"}
    both = ok_json(api.get(geo("/requests"), headers=resident))
    assert {located, addressed, closed} <= {r["service_request_id"] for r in both}


def test_requests_by_id_and_service_code(
    api: TestClient, resident: Headers, located: str, addressed: str
) -> None:
    by_id = ok_json(
        api.get(
            geo("/requests"),
            headers=resident,
            params={"service_request_id": f"{located},{uuid.uuid4()}", "status": "closed"},
        )
    )
    assert [r["service_request_id"] for r in by_id] == [located]
    furniture = ok_json(
        api.get(geo("/requests"), headers=resident, params={"service_code": FURNITURE})
    )
    assert addressed in {r["service_request_id"] for r in furniture}
    assert {r["service_code"] for r in furniture} == {FURNITURE}


def test_a_resident_sees_only_their_own_requests(
    api: TestClient, resident: Headers, staff: Headers, located: str
) -> None:
    staff_id = reported_id(
        post_request(api, staff, service_code=CLUTTER, address_string="望江苑物业办公室门口")
    )
    geo_errors(api.get(geo(f"/requests/{staff_id}"), headers=resident), 404)
    mine = {r["service_request_id"] for r in ok_json(api.get(geo("/requests"), headers=resident))}
    assert located in mine
    assert staff_id not in mine
    everyone = {r["service_request_id"] for r in ok_json(api.get(geo("/requests"), headers=staff))}
    assert {located, staff_id} <= everyone


# ---- refusals ----


def test_a_jurisdiction_other_than_the_paths_community_is_a_400(
    api: TestClient, resident: Headers
) -> None:
    errors = geo_errors(
        post_request(
            api, resident, service_code=CLUTTER, address_string="x", jurisdiction_id=HUSHAN
        ),
        400,
    )
    assert any("jurisdiction_id" in e["description"] for e in errors)
    geo_errors(api.get(geo("/services"), headers=resident, params={"jurisdiction_id": HUSHAN}), 400)


def test_an_unknown_service_code_cannot_be_reported(api: TestClient, resident: Headers) -> None:
    errors = geo_errors(post_request(api, resident, service_code="0999", address_string="x"), 400)
    assert any(e["description"].startswith("service_code") for e in errors)
    xml_errors(post_request(api, resident, "xml", service_code="0999", address_string="x"), 400)


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"lat": "30.18"}, "long"),
        ({"lat": "北纬30度", "long": "120.27"}, "lat"),
        ({"lat": "1e999", "long": "120.27"}, "lat"),
        ({}, "lat"),
        ({"address_id": "5幢"}, "address_id"),
        ({"address_string": "x", "attribute[dwelling_id]": "302室"}, "attribute[dwelling_id]"),
        ({"address_string": "x", "description": "纸" * 2001}, "description"),
    ],
)
def test_bad_reports_are_400s_naming_the_parameter_never_500s(
    api: TestClient, resident: Headers, fields: dict[str, str], parameter: str
) -> None:
    response = post_request(
        api,
        {**resident, "Accept": "application/problem+json"},
        service_code=CLUTTER,
        **fields,
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert parameter in {e["field"] for e in response.json()["errors"]}


def test_the_route_list_of_these_tests_is_every_geo_report_route(api: TestClient) -> None:
    openapi = api.app.openapi()  # type: ignore[attr-defined]
    served = {
        (method, path.removeprefix("/open311/v2/{tenant}").removesuffix(".{fmt}"))
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        if open311_views.router.tags[0] in operation["tags"]
    }
    assert served == set(GEO_ROUTES)


def call_geo_route(
    client: TestClient, method: str, path: str, fmt: str, headers: Headers, request_id: str
) -> httpx.Response:
    filled = path.format(service_code=CLUTTER, service_request_id=request_id)
    response: httpx.Response
    if method == "post":
        form = urlencode({"service_code": CLUTTER, "address_string": "望江苑"})
        response = client.post(geo(filled, fmt), headers={**FORM, **headers}, content=form)
    else:
        response = client.get(geo(filled, fmt), headers=headers)
    return response


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(("method", "path"), GEO_ROUTES)
def test_hushan_staff_get_403_on_every_shibei_geo_report_route(
    api: TestClient,
    token_of: Login,
    staff: Headers,
    located: str,
    method: str,
    path: str,
    fmt: str,
) -> None:
    hushan = auth(token_of("hushan-staff"))
    before = len(ok_json(api.get(geo("/requests"), headers=staff)))
    response = call_geo_route(api, method, path, fmt, hushan, located)
    if fmt == "json":
        geo_errors(response, 403)
    else:
        xml_errors(response, 403)
    assert len(ok_json(api.get(geo("/requests"), headers=staff))) == before


@pytest.fixture(scope="module")
def late_api(cases_gateway: GatewayCore, token_of: Login) -> TestClient:
    """The gateway an hour after shibei-resident's token expired."""
    expires_at = float(claims_of(token_of("shibei-resident"))["exp"])
    late = TokenVerifier(
        issuer=cases_gateway.settings.issuer, audience="shequ", clock=lambda: expires_at + 3600
    )
    return TestClient(
        create_app(replace(cases_gateway, verifier=late)), raise_server_exceptions=False
    )


@pytest.mark.parametrize("kind", ["missing", "forged", "expired"])
@pytest.mark.parametrize(("method", "path"), GEO_ROUTES)
def test_every_geo_report_route_needs_a_valid_token(
    api: TestClient,
    late_api: TestClient,
    token_of: Login,
    located: str,
    kind: str,
    method: str,
    path: str,
) -> None:
    real = token_of("shibei-resident")
    client, headers = {
        "missing": (api, {}),
        "forged": (api, auth(with_tampered_claims(real, groups=["/platform-admin"]))),
        "expired": (late_api, auth(real)),
    }[kind]
    response = call_geo_route(client, method, path, "json", headers, located)
    geo_errors(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
