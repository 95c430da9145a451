"""The census routes through the gateway, against a real census gRPC server and real tokens.

The census runs in this process on a free port with a database of its own (``gateway_census``),
so the census service's own tests and these never see each other's rows.
"""

import csv
import io
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

import grpc
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from census.app import CensusCore
from census.identity.codes import credit_check_character, id_check_character
from census.imports.template import COLUMNS
from census.people.models import PiiReveal
from gateway.app import GatewayCore, create_app, prepare_core
from gateway.census import views as census_views
from gateway.config import GatewaySettings
from shequ.census.v1 import census_pb2_grpc
from shequ_infra.processes import free_port
from shequ_infra.rest_checks import (
    assert_problem,
    auth,
    call_route,
    fields_of,
    served_routes,
)
from shequ_infra.rest_checks import tenant_url as url
from shequ_kit.db import system_scope

Login = Callable[..., str]
TODAY = date(2026, 11, 23)
HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
# Every census route (a test below checks the list is complete); call_route fills in the ids.
CENSUS_ROUTES = [
    ("get", "/complexes"),
    ("post", "/complexes"),
    ("get", "/buildings"),
    ("post", "/buildings"),
    ("get", "/buildings/{building_id}"),
    ("patch", "/buildings/{building_id}"),
    ("delete", "/buildings/{building_id}"),
    ("post", "/units"),
    ("get", "/dwellings"),
    ("post", "/dwellings"),
    ("get", "/households"),
    ("post", "/households"),
    ("patch", "/households/{household_id}"),
    ("delete", "/households/{household_id}"),
    ("get", "/residents"),
    ("post", "/residents"),
    ("post", "/residents/search"),
    ("get", "/residents/{resident_id}"),
    ("post", "/residents/{resident_id}/reveal"),
    ("patch", "/residents/{resident_id}"),
    ("post", "/residents/{resident_id}/move"),
    ("post", "/residents/{resident_id}/remove"),
    ("post", "/imports"),
    ("get", "/imports/template"),
    ("get", "/residents/export"),
    ("post", "/residents/export"),
    ("get", "/enterprises"),
    ("post", "/enterprises"),
    ("get", "/enterprises/{enterprise_id}"),
    ("patch", "/enterprises/{enterprise_id}"),
    ("delete", "/enterprises/{enterprise_id}"),
    ("get", "/organizations"),
    ("post", "/organizations"),
    ("get", "/stats/census"),
]
CENSUS_DATABASE = "gateway_census"  # this module's census server (conftest)


def id_number(birth: str, sequence: str = "123", area: str = "330109") -> str:
    first17 = f"{area}{birth}{sequence}"
    return first17 + id_check_character(first17)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def places(api: TestClient, staff: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Complex → building → unit → dwelling → household, registered through REST."""
    complex_ = created(
        api.post(
            url(HUSHAN, "/complexes"),
            headers=staff,
            json={"name": "晴庐", "address": "市心北路", "delivered_year": 2017},
        )
    )
    building = created(
        api.post(
            url(HUSHAN, "/buildings"),
            headers=staff,
            json={"complex_id": complex_["id"], "number": "3幢", "floors": 18},
        )
    )
    unit = created(
        api.post(
            url(HUSHAN, "/units"),
            headers=staff,
            json={"building_id": building["id"], "number": "1单元"},
        )
    )
    dwelling = created(
        api.post(
            url(HUSHAN, "/dwellings"), headers=staff, json={"unit_id": unit["id"], "room": "502"}
        )
    )
    household = created(
        api.post(
            url(HUSHAN, "/households"),
            headers=staff,
            json={"dwelling_id": dwelling["id"], "tenure": "owner"},
        )
    )
    return {
        "complex": complex_,
        "building": building,
        "unit": unit,
        "dwelling": dwelling,
        "household": household,
    }


def resident_body(household_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "household_id": household_id,
        "name": "王秀英",
        "id_number": id_number("19500302", "124"),
        "phone": "138 1234 5678",
        "relation_to_head": "self",
        "residence_type": "registered",
        "tenure": "owner",
        "care_tags": ["living_alone"],
        **overrides,
    }


@pytest.fixture(scope="module")
def elder(
    api: TestClient, staff: dict[str, str], places: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return created(
        api.post(
            url(HUSHAN, "/residents"),
            headers=staff,
            json=resident_body(places["household"]["id"]),
        )
    )


def test_staff_register_places_through_rest(
    api: TestClient, staff: dict[str, str], places: dict[str, dict[str, Any]]
) -> None:
    complex_, building = places["complex"], places["building"]
    assert complex_["tenant_id"] == HUSHAN
    assert complex_["delivered_year"] == 2017
    assert complex_["verification"] == {"verified_on": None, "verified_by": None}
    assert building["complex_id"] == complex_["id"]
    assert places["dwelling"]["address"] == "晴庐3幢1单元502室"
    assert places["household"]["tenure"] == "owner"
    assert places["household"]["head_resident_id"] is None

    listed = api.get(
        url(HUSHAN, "/buildings"), headers=staff, params={"complex_id": complex_["id"]}
    )
    assert [b["id"] for b in listed.json()["items"]] == [building["id"]]
    assert listed.json()["next_page_token"] == ""
    dwellings = api.get(
        url(HUSHAN, "/dwellings"), headers=staff, params={"building_id": building["id"]}
    ).json()["items"]
    assert [d["room"] for d in dwellings] == ["502"]


def test_a_resident_comes_back_masked_for_staff(
    api: TestClient,
    staff: dict[str, str],
    places: dict[str, dict[str, Any]],
    elder: dict[str, Any],
) -> None:
    number = id_number("19500302", "124")
    assert elder["pii_masked"] is True
    assert elder["id_number"] == "330109**********" + number[-2:]
    assert elder["phone"] == "138****5678"
    assert elder["sex"] == "female"
    assert elder["birth_date"] == "1950-03-02"
    assert elder["age_band"] == "60_79"
    assert elder["residence_type"] == "registered"
    assert set(elder["care_tags"]) == {"elderly", "living_alone"}
    assert elder["verification"] == {
        "verified_on": TODAY.isoformat(),
        "verified_by": "hushan-staff",
    }

    again = api.get(url(HUSHAN, f"/residents/{elder['id']}"), headers=staff)
    assert again.status_code == 200
    assert again.json() == elder
    building_id = places["building"]["id"]
    in_building = api.get(
        url(HUSHAN, "/residents"), headers=staff, params={"building_id": building_id}
    ).json()["items"]
    assert all(r["pii_masked"] for r in in_building)
    building = api.get(url(HUSHAN, f"/buildings/{building_id}"), headers=staff).json()
    assert (building["households"], building["residents"]) == (1, len(in_building))
    household = api.get(
        url(HUSHAN, "/households"), headers=staff, params={"building_id": building_id}
    ).json()["items"]
    assert [(h["head_resident_id"], h["size"]) for h in household] == [
        (elder["id"], len(in_building))
    ]


def test_a_pii_reader_reveals_with_a_reason_and_the_audit_names_the_request(
    api: TestClient, token_of: Login, census: CensusCore, elder: dict[str, Any]
) -> None:
    request_id = f"reveal-{uuid.uuid4().hex[:8]}"
    revealed = api.post(
        url(HUSHAN, f"/residents/{elder['id']}/reveal"),
        headers={**auth(token_of("hushan-pii")), "X-Request-ID": request_id},
        json={"reason": "上门核实独居老人情况"},
    )
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["pii_masked"] is False
    assert revealed.json()["id_number"] == id_number("19500302", "124")
    assert revealed.json()["phone"] == "13812345678"
    with system_scope(), census.sessions() as session:
        audit = session.scalars(
            select(PiiReveal).where(PiiReveal.resident_id == uuid.UUID(elder["id"]))
        ).all()
    assert [(a.actor_username, a.reason, a.request_id) for a in audit] == [
        ("hushan-pii", "上门核实独居老人情况", request_id)
    ]


def test_a_reveal_needs_a_reason_and_the_pii_reader_role(
    api: TestClient, token_of: Login, staff: dict[str, str], elder: dict[str, Any]
) -> None:
    reveal = url(HUSHAN, f"/residents/{elder['id']}/reveal")
    pii = auth(token_of("hushan-pii"))
    blank = assert_problem(
        api.post(reveal, headers=pii, json={"reason": "  "}), 422, "census.reveal_reason_required"
    )
    assert fields_of(blank) == {"reason"}
    missing = assert_problem(api.post(reveal, headers=pii, json={}), 422, "request.invalid")
    assert fields_of(missing) == {"body.reason"}
    not_cleared = assert_problem(
        api.post(reveal, headers=staff, json={"reason": "想看看号码"}),
        403,
        "auth.permission_denied",
    )
    assert not_cleared["params"]["required_roles"] == "pii-reader"


def test_an_invalid_id_number_is_a_422_naming_the_field(
    api: TestClient, staff: dict[str, str], places: dict[str, dict[str, Any]]
) -> None:
    wrong_check = id_number("19800101")[:-1] + "0"
    body = resident_body(
        places["household"]["id"], id_number=wrong_check, relation_to_head="child", phone=None
    )
    problem = assert_problem(
        api.post(url(HUSHAN, "/residents"), headers=staff, json=body),
        422,
        "census.id_number_checksum",
    )
    assert fields_of(problem) == {"id_number"}
    assert problem["type"] == "urn:shequ:problem:census.id_number_checksum"


def test_registering_the_same_id_number_twice_is_a_409(
    api: TestClient, staff: dict[str, str], places: dict[str, dict[str, Any]], elder: dict[str, Any]
) -> None:
    body = resident_body(places["household"]["id"], relation_to_head="spouse")
    problem = assert_problem(
        api.post(url(HUSHAN, "/residents"), headers=staff, json=body),
        409,
        "census.duplicate_id_number",
    )
    assert fields_of(problem) == {"id_number"}


def test_a_word_the_contract_does_not_know_is_refused_before_the_census(
    api: TestClient, staff: dict[str, str], places: dict[str, dict[str, Any]]
) -> None:
    body = resident_body(places["household"]["id"], residence_type="alien")
    problem = assert_problem(
        api.post(url(HUSHAN, "/residents"), headers=staff, json=body), 422, "request.invalid"
    )
    assert fields_of(problem) == {"body.residence_type"}
    listed = api.get(url(HUSHAN, "/residents"), headers=staff, params={"age_band": "60-79"})
    assert fields_of(assert_problem(listed, 422)) == {"query.age_band"}


def test_residents_are_filtered_and_paged(
    api: TestClient, staff: dict[str, str], places: dict[str, dict[str, Any]], elder: dict[str, Any]
) -> None:
    household = places["household"]["id"]
    for name, birth, sequence, residence in [
        ("李小明", "20150606", "211", "registered"),
        ("陈静", "19880808", "244", "migrant"),
    ]:
        created(
            api.post(
                url(HUSHAN, "/residents"),
                headers=staff,
                json=resident_body(
                    household,
                    name=name,
                    id_number=id_number(birth, sequence),
                    phone=None,
                    relation_to_head="other",
                    residence_type=residence,
                    care_tags=[],
                ),
            )
        )
    names: list[str] = []
    token = ""
    for _ in range(10):
        page = api.get(
            url(HUSHAN, "/residents"), headers=staff, params={"page_size": 2, "page_token": token}
        ).json()
        assert len(page["items"]) <= 2
        names += [r["name"] for r in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert sorted(names) == sorted(["王秀英", "李小明", "陈静"])

    def names_where(**criteria: str) -> set[str]:
        response = api.get(url(HUSHAN, "/residents"), headers=staff, params=criteria)
        assert response.status_code == 200, response.text
        return {r["name"] for r in response.json()["items"]}

    assert names_where(care_tag="elderly") == {"王秀英"}
    assert names_where(care_tag="child") == {"李小明"}
    assert names_where(age_band="35_59") == {"陈静"}
    assert names_where(residence_type="migrant") == {"陈静"}
    assert names_where(name="小") == {"李小明"}
    found = api.post(
        url(HUSHAN, "/residents/search"),
        headers=staff,
        json={"id_number": id_number("19880808", "244")},
    )
    assert found.status_code == 200, found.text
    assert [r["name"] for r in found.json()["items"]] == ["陈静"]
    in_url = api.get(
        url(HUSHAN, "/residents"), headers=staff, params={"id_number": id_number("19880808", "244")}
    )
    assert in_url.status_code == 422
    assert in_url.json()["code"] == "request.id_number_in_url"
    assert names_where(complex_id=places["complex"]["id"]) == {"王秀英", "李小明", "陈静"}
    assert names_where(verified_before=TODAY.isoformat()) == set()


def test_a_page_token_the_census_did_not_issue_is_a_422_problem(
    api: TestClient, staff: dict[str, str]
) -> None:
    response = api.get(url(HUSHAN, "/complexes"), headers=staff, params={"page_token": "!!"})
    problem = assert_problem(response, 422, "paging.page_token")
    assert fields_of(problem) == {"page.page_token"}


def test_the_route_list_of_these_tests_is_every_census_route(api: TestClient) -> None:
    openapi = api.app.openapi()  # type: ignore[attr-defined]
    assert served_routes(openapi, census_views.router.tags[0]) == set(CENSUS_ROUTES)


@pytest.mark.parametrize(("method", "path"), CENSUS_ROUTES)
def test_another_communitys_staff_get_403_on_every_census_route(
    api: TestClient, token_of: Login, method: str, path: str
) -> None:
    response = call_route(api, method, path, HUSHAN, auth(token_of("xiangyuan-staff")))
    problem = assert_problem(response, 403, "auth.permission_denied")
    assert problem["params"] == {"tenant": HUSHAN}


@pytest.mark.parametrize(("method", "path"), CENSUS_ROUTES)
def test_every_census_route_needs_a_token(api: TestClient, method: str, path: str) -> None:
    response = call_route(api, method, path, HUSHAN, {})
    assert_problem(response, 401, "auth.unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_hushan_resident_is_not_found_under_xiangyuan(
    api: TestClient, token_of: Login, elder: dict[str, Any]
) -> None:
    response = api.get(
        url(XIANGYUAN, f"/residents/{elder['id']}"), headers=auth(token_of("xiangyuan-staff"))
    )
    assert_problem(response, 404, "census.resident_not_found")
    listed = api.get(url(XIANGYUAN, "/residents"), headers=auth(token_of("xiangyuan-staff")))
    assert listed.json() == {"items": [], "next_page_token": ""}


def test_a_street_admin_reads_across_communities_but_does_not_write(
    api: TestClient, token_of: Login, elder: dict[str, Any]
) -> None:
    admin = auth(token_of("shushan-admin"))
    seen = api.get(url("xiaoshan.shushan", "/residents"), headers=admin)
    assert seen.status_code == 200, seen.text
    found = {r["id"]: r for r in seen.json()["items"]}
    assert found[elder["id"]]["pii_masked"] is True
    write = api.post(url(HUSHAN, "/complexes"), headers=admin, json={"name": "街道小区"})
    assert_problem(write, 403, "auth.permission_denied")


def test_residents_do_not_read_the_census(api: TestClient, token_of: Login) -> None:
    # A grant on the tenant passes the gateway; the census refuses the role.
    response = api.get(url(HUSHAN, "/residents"), headers=auth(token_of("hushan-resident")))
    problem = assert_problem(response, 403, "auth.permission_denied")
    assert "community-staff" in problem["params"]["required_roles"]


def test_a_resident_lists_complexes_and_buildings_but_not_who_lives_there(
    api: TestClient, token_of: Login, places: dict[str, dict[str, Any]], elder: dict[str, Any]
) -> None:
    # Names and numbers are posted at every gate: a resident picks where a problem is.
    resident = auth(token_of("hushan-resident"))
    complexes = api.get(url(HUSHAN, "/complexes"), headers=resident)
    assert complexes.status_code == 200, complexes.text
    assert places["complex"]["id"] in {c["id"] for c in complexes.json()["items"]}
    buildings = api.get(
        url(HUSHAN, "/buildings"),
        headers=resident,
        params={"complex_id": places["complex"]["id"]},
    )
    assert buildings.status_code == 200, buildings.text
    assert [b["number"] for b in buildings.json()["items"]] == ["3幢"]
    building_id = places["building"]["id"]
    for path, params in [
        ("/residents", {"building_id": building_id}),
        ("/households", {"building_id": building_id}),
        ("/dwellings", {"building_id": building_id}),
        (f"/buildings/{building_id}", {}),
        (f"/residents/{elder['id']}", {}),
        ("/stats/census", {}),
    ]:
        refused = api.get(url(HUSHAN, path), headers=resident, params=params)
        assert_problem(refused, 403, "auth.permission_denied")
    foreign = api.get(url(XIANGYUAN, "/buildings"), headers=resident)
    assert foreign.status_code == 403


@pytest.fixture
def contract_only_census() -> Iterator[str]:
    """A gRPC server with the contract's generated base servicer and none of the kit's
    interceptors: every RPC answers UNIMPLEMENTED, as gRPC defines a method not built yet."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = census_pb2_grpc.CensusServiceServicer()  # type: ignore[abstract]  # on purpose
    census_pb2_grpc.add_CensusServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


def test_an_rpc_not_built_yet_is_a_501_problem(
    gateway_settings: GatewaySettings, contract_only_census: str, staff: dict[str, str]
) -> None:
    with gateway_with_census_at(gateway_settings, contract_only_census) as core:
        response = TestClient(create_app(core)).get(url(HUSHAN, "/complexes"), headers=staff)
    problem = assert_problem(response, 501, "service.not_implemented")
    assert problem["title"].startswith("功能尚未建成")
    assert "Method not implemented" not in response.text


def gateway_with_census_at(
    gateway_settings: GatewaySettings, target: str
) -> AbstractContextManager[GatewayCore]:
    # A read retries an unavailable census for 1 s at most, then answers.
    return prepare_core(
        gateway_settings.model_copy(
            update={
                "census_target": target,
                "grpc_timeout_s": 2.0,
                "grpc_read_retry_budget_s": 1.0,
            }
        )
    )


def test_census_down_is_a_503_with_retry_after_not_a_hang(
    gateway_settings: GatewaySettings, staff: dict[str, str]
) -> None:
    with gateway_with_census_at(gateway_settings, f"127.0.0.1:{free_port()}") as core:
        started = time.monotonic()
        response = TestClient(create_app(core)).get(url(HUSHAN, "/complexes"), headers=staff)
        elapsed = time.monotonic() - started
    assert_problem(response, 503, "service.unavailable")
    assert response.headers["retry-after"]
    assert elapsed < 2.0


def test_a_census_that_never_answers_is_a_504_when_the_deadline_passes(
    gateway_settings: GatewaySettings, staff: dict[str, str]
) -> None:
    # Accepts TCP connections (the kernel's backlog) but never speaks HTTP/2.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        target = f"127.0.0.1:{silent.getsockname()[1]}"
        with gateway_with_census_at(gateway_settings, target) as core:
            started = time.monotonic()
            response = TestClient(create_app(core)).get(url(HUSHAN, "/complexes"), headers=staff)
            elapsed = time.monotonic() - started
    assert_problem(response, 504, "service.timeout")
    assert 1.5 < elapsed < 5.0


# ---- corrections, moves, removal, import, enterprises, organisations, statistics ----
# These register their own places (a complex each where counts matter), after the tests above.


def register_household(
    api: TestClient, staff: dict[str, str], complex_name: str, rooms: tuple[str, ...] = ("101",)
) -> tuple[str, list[str]]:
    """A complex with one building and unit, and one household per room: (complex id,
    household ids)."""
    complex_ = created(
        api.post(url(HUSHAN, "/complexes"), headers=staff, json={"name": complex_name})
    )
    building = created(
        api.post(
            url(HUSHAN, "/buildings"),
            headers=staff,
            json={"complex_id": complex_["id"], "number": "1幢"},
        )
    )
    unit = created(
        api.post(
            url(HUSHAN, "/units"),
            headers=staff,
            json={"building_id": building["id"], "number": "1单元"},
        )
    )
    households = []
    for room in rooms:
        dwelling = created(
            api.post(
                url(HUSHAN, "/dwellings"), headers=staff, json={"unit_id": unit["id"], "room": room}
            )
        )
        households.append(
            created(
                api.post(
                    url(HUSHAN, "/households"),
                    headers=staff,
                    json={"dwelling_id": dwelling["id"], "tenure": "owner"},
                )
            )["id"]
        )
    return complex_["id"], households


def test_a_patch_changes_only_the_sent_fields_and_a_stale_version_is_a_409(
    api: TestClient, staff: dict[str, str]
) -> None:
    _, (household,) = register_household(api, staff, "更正苑")
    before = created(
        api.post(
            url(HUSHAN, "/residents"),
            headers=staff,
            json=resident_body(household, name="赵更正", id_number=id_number("19700101", "311")),
        )
    )
    resident = url(HUSHAN, f"/residents/{before['id']}")
    patched = api.patch(
        resident,
        headers=staff,
        json={"phone": "139 0000 1111", "tags": ["楼长"], "expected_version": before["version"]},
    )
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert after["phone"] == "139****1111"
    assert after["tags"] == ["楼长"]
    assert after["version"] > before["version"]
    unchanged = {"phone", "tags", "version", "updated_at", "verification"}
    assert {k: v for k, v in after.items() if k not in unchanged} == {
        k: v for k, v in before.items() if k not in unchanged
    }

    stale = assert_problem(
        api.patch(
            resident, headers=staff, json={"name": "赵旧版", "expected_version": before["version"]}
        ),
        409,
        "census.stale_version",
    )
    assert stale["params"]["current_version"] == str(after["version"])
    assert api.get(resident, headers=staff).json()["name"] == "赵更正"
    missing = assert_problem(api.patch(resident, headers=staff, json={"name": "赵"}), 422)
    assert fields_of(missing) == {"body.expected_version"}


def test_a_resident_moves_to_another_household_of_the_community(
    api: TestClient, staff: dict[str, str]
) -> None:
    _, (home, new_home) = register_household(api, staff, "迁居苑", rooms=("201", "202"))
    mover = created(
        api.post(
            url(HUSHAN, "/residents"),
            headers=staff,
            json=resident_body(home, name="钱迁居", id_number=id_number("19750505", "322")),
        )
    )
    moved = api.post(
        url(HUSHAN, f"/residents/{mover['id']}/move"),
        headers=staff,
        json={
            "to_household_id": new_home,
            "moved_on": "2026-11-20",
            "expected_version": mover["version"],
        },
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["household_id"] == new_home
    assert moved.json()["dwelling_id"] != mover["dwelling_id"]
    assert moved.json()["moved_out_on"] is None


def test_a_removed_resident_leaves_the_default_list(api: TestClient, staff: dict[str, str]) -> None:
    _, (household,) = register_household(api, staff, "删除苑")
    wrong = created(
        api.post(
            url(HUSHAN, "/residents"),
            headers=staff,
            json=resident_body(household, name="孙重复", id_number=id_number("19800808", "333")),
        )
    )
    removed = api.post(
        url(HUSHAN, f"/residents/{wrong['id']}/remove"),
        headers=staff,
        json={"reason": "重复登记", "expected_version": wrong["version"]},
    )
    assert removed.status_code == 204, removed.text
    assert removed.content == b""
    listed = api.get(url(HUSHAN, "/residents"), headers=staff, params={"name": "孙重复"})
    assert listed.json()["items"] == []


IMPORT_HEADER = [column.header_zh for column in COLUMNS]  # the template, in its order


def import_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(IMPORT_HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def upload(
    api: TestClient, staff: dict[str, str], name: str, data: bytes, strict: bool = False
) -> httpx.Response:
    response: httpx.Response = api.post(
        url(HUSHAN, "/imports"),
        headers=staff,
        files={"file": (name, data, "text/csv")},
        data={"strict": str(strict).lower()},
    )
    return response


def test_a_csv_import_reports_the_bad_row_and_the_same_file_again_writes_nothing(
    api: TestClient, staff: dict[str, str]
) -> None:
    place = ["导入苑", "2幢", "1单元"]
    rows = [
        [
            "周导一",
            id_number("19650101", "411"),
            "13900001111",
            "户主",
            "户籍",
            "自有",
            *place,
            "301",
            "2020-05-01",
            "",
            "",
            "2026-11-01",
        ],
        [
            "吴导二",
            id_number("19670202", "422"),
            "1391234",
            "配偶",
            "户籍",
            "自有",
            *place,
            "301",
            "2020-05-01",
            "",
            "",
            "2026-11-01",
        ],
        [
            "郑导三",
            id_number("19900303", "433"),
            "",
            "户主",
            "流动",
            "租住",
            *place,
            "302",
            "2021-06-01",
            "",
            "",
            "2026-11-01",
        ],
    ]
    data = import_csv(rows)
    response = upload(api, staff, "导入苑居民.csv", data)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows_total"], report["rows_imported"], report["already_imported"]) == (
        3,
        2,
        False,
    )
    assert [(e["row"], e["column"]) for e in report["rejected"]] == [(3, "手机号")]
    assert report["rejected"][0]["message_zh"]
    assert report["rejected"][0]["message_en"]

    complexes = api.get(url(HUSHAN, "/complexes"), headers=staff, params={"page_size": 500}).json()
    (complex_id,) = [c["id"] for c in complexes["items"] if c["name"] == "导入苑"]
    listed = api.get(url(HUSHAN, "/residents"), headers=staff, params={"complex_id": complex_id})
    assert {r["name"] for r in listed.json()["items"]} == {"周导一", "郑导三"}

    again = upload(api, staff, "导入苑居民(1).csv", data)
    assert again.status_code == 200, again.text
    assert again.json()["already_imported"] is True
    listed = api.get(url(HUSHAN, "/residents"), headers=staff, params={"complex_id": complex_id})
    assert len(listed.json()["items"]) == 2


def test_only_xlsx_and_csv_are_imported(api: TestClient, staff: dict[str, str]) -> None:
    response = upload(api, staff, "居民.txt", import_csv([]))
    problem = assert_problem(response, 415, "census.import_format")
    assert fields_of(problem) == {"body.file"}


def test_an_upload_over_the_cap_is_a_413_before_the_census(
    gateway: GatewayCore, staff: dict[str, str]
) -> None:
    # The body fits the upload limit with its framing; the file alone does not.
    settings = gateway.settings.model_copy(update={"max_upload_bytes": 1024})
    with prepare_core(settings) as capped:
        api = TestClient(create_app(capped), raise_server_exceptions=False)
        response = upload(api, staff, "大.csv", b"x" * 4096)
    problem = assert_problem(response, 413, "census.import_too_large")
    assert fields_of(problem) == {"body.file"}
    assert problem["params"] == {"max_bytes": "1024"}


def test_enterprises_need_a_valid_credit_code_and_show_the_contact_masked(
    api: TestClient, staff: dict[str, str]
) -> None:
    body = {
        "name": "晴庐便利店",
        "credit_code": "92330109MA2J6K7M",
        "type": "individual_business",
        "address": "市心北路1号",
        "contact_name": "冯老板",
        "contact_phone": "13812345678",
        "employees": 3,
    }
    bad = assert_problem(api.post(url(HUSHAN, "/enterprises"), headers=staff, json=body), 422)
    assert fields_of(bad) == {"credit_code"}
    valid = "92330109MA2J6K7M8" + credit_check_character("92330109MA2J6K7M8")
    shop = created(
        api.post(url(HUSHAN, "/enterprises"), headers=staff, json={**body, "credit_code": valid})
    )
    assert (shop["credit_code"], shop["type"]) == (valid, "individual_business")
    assert shop["contact_phone"] == "138****5678"
    listed = api.get(
        url(HUSHAN, "/enterprises"), headers=staff, params={"type": "individual_business"}
    )
    assert shop["id"] in {e["id"] for e in listed.json()["items"]}
    none = api.get(url(HUSHAN, "/enterprises"), headers=staff, params={"type": "institution"})
    assert shop["id"] not in {e["id"] for e in none.json()["items"]}


def test_organizations_are_created_and_listed_by_kind(
    api: TestClient, staff: dict[str, str], places: dict[str, dict[str, Any]]
) -> None:
    committee = created(
        api.post(
            url(HUSHAN, "/organizations"),
            headers=staff,
            json={
                "kind": "owners_committee",
                "name": "晴庐业主委员会",
                "complex_ids": [places["complex"]["id"]],
                "contact_name": "褚主任",
                "contact_phone": "13912345678",
            },
        )
    )
    assert committee["kind"] == "owners_committee"
    assert committee["complex_ids"] == [places["complex"]["id"]]
    assert committee["contact_phone"] == "139****5678"
    listed = api.get(
        url(HUSHAN, "/organizations"), headers=staff, params={"kind": "owners_committee"}
    )
    assert committee["id"] in {o["id"] for o in listed.json()["items"]}
    others = api.get(url(HUSHAN, "/organizations"), headers=staff, params={"kind": "party_branch"})
    assert committee["id"] not in {o["id"] for o in others.json()["items"]}


def test_statistics_count_the_residents_of_a_complex(
    api: TestClient, staff: dict[str, str]
) -> None:
    complex_id, (household,) = register_household(api, staff, "统计苑")
    for name, birth, sequence in [("卫统一", "19550101", "511"), ("蒋统二", "20180202", "522")]:
        created(
            api.post(
                url(HUSHAN, "/residents"),
                headers=staff,
                json=resident_body(
                    household,
                    name=name,
                    id_number=id_number(birth, sequence),
                    phone=None,
                    relation_to_head="self" if name == "卫统一" else "other",
                    care_tags=[],
                ),
            )
        )
    response = api.get(url(HUSHAN, "/stats/census"), headers=staff, params={"by_complex": True})
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["total"]["scope_id"] == HUSHAN
    (mine,) = [p for p in stats["parts"] if p["scope_id"] == complex_id]
    assert (mine["scope_name"], mine["households"], mine["residents"]) == ("统计苑", 1, 2)
    assert sum(mine["by_residence_type"].values()) == 2
    assert mine["by_care_tag"]["elderly"] == 1
    assert mine["by_care_tag"]["child"] == 1
    assert stats["total"]["residents"] >= 2
