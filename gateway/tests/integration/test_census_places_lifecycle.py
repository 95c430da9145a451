"""Correcting and removing buildings, households and enterprises through REST, against a real
census gRPC server and real tokens: PATCH with the version read, DELETE with a reason, every
refusal a problem naming its field, and nothing of another community within reach.

The census runs in this process with a database of its own (``gateway_census_places``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from census.identity.codes import credit_check_character, id_check_character

Login = Callable[..., str]
TODAY = date(2026, 11, 23)
HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
SOME_ID = "6b1a8c54-0000-4000-8000-000000000000"
NEW_ROUTES = [
    ("patch", "/buildings/{id}"),
    ("delete", "/buildings/{id}"),
    ("patch", "/households/{id}"),
    ("delete", "/households/{id}"),
    ("get", "/enterprises/{id}"),
    ("patch", "/enterprises/{id}"),
    ("delete", "/enterprises/{id}"),
]
CENSUS_DATABASE = "gateway_census_places"  # this module's census server (conftest)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def url(tenant: str, path: str) -> str:
    return f"/api/v1/tenants/{tenant}{path}"


def id_number(birth: str, sequence: str) -> str:
    first17 = f"330109{birth}{sequence}"
    return first17 + id_check_character(first17)


def credit_code(body: str) -> str:
    return body + credit_check_character(body)


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["detail"]
    assert body["detail_en"]
    return body


def fields_of(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


@dataclass(frozen=True)
class Place:
    complex_id: str
    building: dict[str, Any]
    unit_id: str
    dwelling: dict[str, Any]


def register_place(api: TestClient, staff: dict[str, str], complex_name: str) -> Place:
    def create(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return ok(api.post(url(HUSHAN, path), headers=staff, json=body), 201)

    complex_ = create("/complexes", {"name": complex_name})
    building = create("/buildings", {"complex_id": complex_["id"], "number": "3幢", "floors": 6})
    unit = create("/units", {"building_id": building["id"], "number": "1单元"})
    dwelling = create("/dwellings", {"unit_id": unit["id"], "room": "101"})
    return Place(complex_["id"], building, unit["id"], dwelling)


def register_household(api: TestClient, staff: dict[str, str], dwelling_id: str) -> dict[str, Any]:
    return ok(
        api.post(
            url(HUSHAN, "/households"),
            headers=staff,
            json={"dwelling_id": dwelling_id, "tenure": "tenant"},
        ),
        201,
    )


def register_resident(
    api: TestClient,
    staff: dict[str, str],
    household_id: str,
    sequence: str,
    relation: str = "self",
) -> dict[str, Any]:
    return ok(
        api.post(
            url(HUSHAN, "/residents"),
            headers=staff,
            json={
                "household_id": household_id,
                "name": "柳住户",
                "id_number": id_number("19720202", sequence),
                "relation_to_head": relation,
                "residence_type": "resident",
                "tenure": "tenant",
            },
        ),
        201,
    )


def delete(
    api: TestClient, path: str, headers: dict[str, str], body: dict[str, Any] | None
) -> httpx.Response:
    response: httpx.Response = api.request("DELETE", path, headers=headers, json=body)
    return response


# ---- buildings ----


def test_staff_renumber_a_building_and_its_dwellings_follow(
    api: TestClient, staff: dict[str, str]
) -> None:
    place = register_place(api, staff, "改号苑")
    building = url(HUSHAN, f"/buildings/{place.building['id']}")
    renumbered = ok(
        api.patch(building, headers=staff, json={"number": "8幢", "expected_version": 1})
    )
    assert (renumbered["number"], renumbered["floors"], renumbered["version"]) == ("8幢", 6, 2)
    assert renumbered["verification"] == {
        "verified_on": TODAY.isoformat(),
        "verified_by": "hushan-staff",
    }
    dwellings = ok(
        api.get(
            url(HUSHAN, "/dwellings"), headers=staff, params={"building_id": place.building["id"]}
        )
    )["items"]
    assert [d["address"] for d in dwellings] == ["改号苑8幢1单元101室"]

    floors_unknown = ok(
        api.patch(building, headers=staff, json={"floors": None, "expected_version": 2})
    )
    assert (floors_unknown["number"], floors_unknown["floors"]) == ("8幢", None)


def test_a_building_patch_names_what_is_wrong(api: TestClient, staff: dict[str, str]) -> None:
    place = register_place(api, staff, "错号苑")
    ok(
        api.post(
            url(HUSHAN, "/buildings"),
            headers=staff,
            json={"complex_id": place.complex_id, "number": "4幢"},
        ),
        201,
    )
    building = url(HUSHAN, f"/buildings/{place.building['id']}")

    taken = assert_problem(
        api.patch(building, headers=staff, json={"number": "4幢", "expected_version": 1}),
        409,
        "census.building_exists",
    )
    assert fields_of(taken) == {"number"}
    unversioned = assert_problem(
        api.patch(building, headers=staff, json={"number": "5幢"}), 422, "request.invalid"
    )
    assert fields_of(unversioned) == {"body.expected_version"}
    elsewhere = assert_problem(
        api.patch(building, headers=staff, json={"complex_id": SOME_ID, "expected_version": 1}),
        422,
        "request.invalid",
    )
    assert fields_of(elsewhere) == {"body.complex_id"}
    future = assert_problem(
        api.patch(
            building, headers=staff, json={"verified_on": "2027-01-01", "expected_version": 1}
        ),
        422,
        "census.verified_on_invalid",
    )
    assert fields_of(future) == {"verified_on"}

    ok(api.patch(building, headers=staff, json={"floors": 7, "expected_version": 1}))
    stale = assert_problem(
        api.patch(building, headers=staff, json={"floors": 9, "expected_version": 1}),
        409,
        "census.stale_version",
    )
    assert stale["params"]["current_version"] == "2"
    assert ok(api.get(building, headers=staff))["floors"] == 7


def test_a_building_is_deleted_once_its_household_is_and_its_number_is_free_again(
    api: TestClient, staff: dict[str, str]
) -> None:
    place = register_place(api, staff, "拆楼苑")
    household = register_household(api, staff, place.dwelling["id"])
    building = url(HUSHAN, f"/buildings/{place.building['id']}")
    removal = {"reason": "楼幢已拆除", "expected_version": 1}

    lived_in = assert_problem(delete(api, building, staff, removal), 409, "census.building_in_use")
    assert lived_in["params"] == {"households": "1", "residents": "0", "enterprises": "0"}
    assert "1户" in lived_in["detail"]

    household_url = url(HUSHAN, f"/households/{household['id']}")
    no_reason = assert_problem(
        delete(api, household_url, staff, {"reason": "错", "expected_version": 1}),
        422,
        "census.remove_reason_required",
    )
    assert fields_of(no_reason) == {"reason"}
    missing = assert_problem(delete(api, household_url, staff, None), 422, "request.invalid")
    assert fields_of(missing) == {"body"}
    gone = delete(api, household_url, staff, {"reason": "登记有误", "expected_version": 1})
    assert gone.status_code == 204, gone.text
    assert gone.content == b""

    removed = delete(api, building, staff, removal)
    assert removed.status_code == 204, removed.text
    assert_problem(api.get(building, headers=staff), 404, "census.building_not_found")
    listed = ok(
        api.get(url(HUSHAN, "/buildings"), headers=staff, params={"complex_id": place.complex_id})
    )
    assert listed["items"] == []
    again = ok(
        api.post(
            url(HUSHAN, "/buildings"),
            headers=staff,
            json={"complex_id": place.complex_id, "number": "3幢"},
        ),
        201,
    )
    assert again["id"] != place.building["id"]


# ---- households ----


def test_staff_change_a_households_head_and_tenure(api: TestClient, staff: dict[str, str]) -> None:
    place = register_place(api, staff, "户主更正苑")
    household = register_household(api, staff, place.dwelling["id"])
    head = register_resident(api, staff, household["id"], "711")
    spouse = register_resident(api, staff, household["id"], "722", relation="spouse")
    household_url = url(HUSHAN, f"/households/{household['id']}")

    current = ok(
        api.get(
            url(HUSHAN, "/households"), headers=staff, params={"building_id": place.building["id"]}
        )
    )["items"][0]
    assert current["head_resident_id"] == head["id"]
    changed = ok(
        api.patch(
            household_url,
            headers=staff,
            json={
                "head_resident_id": spouse["id"],
                "tenure": "owner",
                "expected_version": current["version"],
            },
        )
    )
    assert (changed["head_resident_id"], changed["tenure"], changed["size"]) == (
        spouse["id"],
        "owner",
        2,
    )
    former = ok(api.get(url(HUSHAN, f"/residents/{head['id']}"), headers=staff))
    assert former["relation_to_head"] == "other"

    stranger = assert_problem(
        api.patch(
            household_url,
            headers=staff,
            json={"head_resident_id": SOME_ID, "expected_version": changed["version"]},
        ),
        422,
        "census.head_not_in_household",
    )
    assert fields_of(stranger) == {"head_resident_id"}
    occupied = assert_problem(
        delete(
            api,
            household_url,
            staff,
            {"reason": "登记有误", "expected_version": changed["version"]},
        ),
        409,
        "census.household_in_use",
    )
    assert occupied["params"] == {"residents": "2"}


# ---- enterprises ----


def test_an_enterprise_is_read_corrected_and_deleted(
    api: TestClient, staff: dict[str, str]
) -> None:
    code = credit_code("92330109MA2R1F0N1")
    shop = ok(
        api.post(
            url(HUSHAN, "/enterprises"),
            headers=staff,
            json={
                "name": "湖山杂货铺",
                "credit_code": code,
                "type": "individual_business",
                "address": "湖山路20号",
                "contact_phone": "13812345678",
            },
        ),
        201,
    )
    shop_url = url(HUSHAN, f"/enterprises/{shop['id']}")
    assert ok(api.get(shop_url, headers=staff)) == shop

    corrected = ok(
        api.patch(
            shop_url,
            headers=staff,
            json={"employees": 5, "contact_phone": "139 0000 2222", "expected_version": 1},
        )
    )
    assert (corrected["employees"], corrected["contact_phone"], corrected["version"]) == (
        5,
        "139****2222",
        2,
    )
    assert (corrected["name"], corrected["credit_code"]) == ("湖山杂货铺", code)
    misprint = code[:-1] + ("0" if code[-1] != "0" else "1")
    wrong_code = assert_problem(
        api.patch(shop_url, headers=staff, json={"credit_code": misprint, "expected_version": 2}),
        422,
        "census.credit_code_checksum",
    )
    assert fields_of(wrong_code) == {"credit_code"}
    cleared = ok(
        api.patch(shop_url, headers=staff, json={"contact_phone": None, "expected_version": 2})
    )
    assert cleared["contact_phone"] is None

    gone = delete(api, shop_url, staff, {"reason": "已歇业注销", "expected_version": 3})
    assert gone.status_code == 204, gone.text
    assert_problem(api.get(shop_url, headers=staff), 404, "census.enterprise_not_found")
    listed = ok(api.get(url(HUSHAN, "/enterprises"), headers=staff))["items"]
    assert shop["id"] not in {e["id"] for e in listed}


# ---- who may ----


def test_another_communitys_staff_find_nothing_of_these_records(
    api: TestClient, staff: dict[str, str], token_of: Login
) -> None:
    place = register_place(api, staff, "外社区苑")
    household = register_household(api, staff, place.dwelling["id"])
    shop = ok(
        api.post(
            url(HUSHAN, "/enterprises"),
            headers=staff,
            json={
                "name": "湖山修鞋铺",
                "credit_code": credit_code("92330109MA2R1F0N2"),
                "type": "individual_business",
                "address": "湖山路21号",
            },
        ),
        201,
    )
    foreign = auth(token_of("xiangyuan-staff"))
    patch = {"verified_on": TODAY.isoformat(), "expected_version": 1}
    removal = {"reason": "越权删除", "expected_version": 1}
    for path in (
        f"/buildings/{place.building['id']}",
        f"/households/{household['id']}",
        f"/enterprises/{shop['id']}",
    ):
        assert_problem(
            api.patch(url(XIANGYUAN, path), headers=foreign, json=patch), 404, _not_found(path)
        )
        assert_problem(delete(api, url(XIANGYUAN, path), foreign, removal), 404, _not_found(path))
    assert_problem(
        api.get(url(XIANGYUAN, f"/enterprises/{shop['id']}"), headers=foreign),
        404,
        "census.enterprise_not_found",
    )
    # And through Hushan's path they are refused before the census is asked.
    assert_problem(
        api.patch(url(HUSHAN, f"/enterprises/{shop['id']}"), headers=foreign, json=patch),
        403,
        "auth.permission_denied",
    )
    assert ok(api.get(url(HUSHAN, f"/enterprises/{shop['id']}"), headers=staff))["version"] == 1


def _not_found(path: str) -> str:
    kind = path.split("/")[1].removesuffix("s")
    return f"census.{kind}_not_found"


@pytest.mark.parametrize(("method", "path"), NEW_ROUTES)
def test_the_new_routes_need_a_token(api: TestClient, method: str, path: str) -> None:
    response = api.request(
        method,
        url(HUSHAN, path.format(id=SOME_ID)),
        json={"reason": "登记有误", "expected_version": 1} if method != "get" else None,
    )
    assert_problem(response, 401, "auth.unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
