"""Census to grid across processes, as `make run` runs them (seeded demo data): writes through
the gateway's census routes reach the grid's workload over Kafka (census relay → grid consume),
an import reaches it over the grid's re-sync from census (gRPC), and the gateway answers with
real Keycloak tokens. One platform start for the module (~40 s)."""

import csv
import io
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from census.identity.codes import id_check_character
from census.imports.template import COLUMNS
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import running_platform
from shequ_infra.rest_checks import assert_problem, auth
from shequ_infra.rest_checks import tenant_url as url

pytestmark = pytest.mark.platform  # a session of its own: see the Makefile

SHIBEI = "xiaoshan.beigan.shibei"
HUSHAN = "xiaoshan.shushan.hushan"
# Not Shibei: test_platform_run pins Shibei's seeded complexes, and may run after this module.
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
PASSWORD = "shequ-demo"
# Census write → relay (polls every second when idle) → Kafka → grid consumer → workload.
CENSUS_TO_GRID_S = 2.0
IMPORT_TO_GRID_S = 10.0


def eventually(check: Callable[[], Any], timeout_s: float, step_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s")
        time.sleep(step_s)


def id_number(birth: str, sequence: int) -> str:
    first17 = f"330109{birth}{sequence:03d}"
    return first17 + id_check_character(first17)


@pytest.fixture(scope="module")
def api(infra: LocalInfrastructure) -> Iterator[httpx.Client]:
    with (
        running_platform(infra) as platform,
        httpx.Client(base_url=platform.gateway_url, timeout=30) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def as_user(infra: LocalInfrastructure) -> Callable[[str], dict[str, str]]:
    tokens: dict[str, dict[str, str]] = {}

    def headers(user: str) -> dict[str, str]:
        if user not in tokens:
            tokens[user] = auth(infra.keycloak.password_grant(user, PASSWORD)["access_token"])
        return tokens[user]

    return headers


def items(api: httpx.Client, tenant: str, path: str, headers: dict[str, str]) -> list[Any]:
    found: list[Any] = []
    token = ""
    while True:
        response = api.get(
            url(tenant, path),
            headers=headers,
            params={"page_size": 100, **({"page_token": token} if token else {})},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["items"]
        token = body["next_page_token"]
        if not token:
            return found


def workload(api: httpx.Client, tenant: str, headers: dict[str, str]) -> dict[str, Any]:
    response = api.get(url(tenant, "/stats/grids"), headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_shibei_is_laid_out_in_13_grids_and_45_micro_grids_covering_every_building(
    api: httpx.Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    staff = as_user("shibei-staff")
    grids = items(api, SHIBEI, "/grids", staff)
    micro_grids = items(api, SHIBEI, "/micro-grids", staff)
    assert (len(grids), len(micro_grids)) == (13, 45)
    assert sorted(g["number"] for g in grids) == list(range(1, 14))
    assert items(api, SHIBEI, "/coverage/uncovered", staff) == []
    figures = workload(api, SHIBEI, staff)
    assert figures["total"]["buildings"] == sum(g["building_count"] for g in grids) > 0
    assert figures["total"]["residents"] > 0
    # Hushan's staff cannot read Shibei's grids.
    assert_problem(api.get(url(SHIBEI, "/grids"), headers=as_user("hushan-staff")), 403)


def test_a_building_and_household_made_in_census_reach_the_grid_workload_within_2_s(
    api: httpx.Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    staff = as_user("xiangyuan-staff")
    before = workload(api, XIANGYUAN, staff)["total"]
    complex_ = created(
        api.post(
            url(XIANGYUAN, "/complexes"),
            headers=staff,
            json={"name": f"联调苑{uuid.uuid4().hex[:6]}"},
        )
    )
    started = time.monotonic()
    building = created(
        api.post(
            url(XIANGYUAN, "/buildings"),
            headers=staff,
            json={"complex_id": complex_["id"], "number": "1幢", "floors": 6},
        )
    )

    def uncovered() -> bool:
        listed = items(api, XIANGYUAN, "/coverage/uncovered", staff)
        return any(b["building_id"] == building["id"] for b in listed)

    # A new building is in no micro-grid yet: the grid reports it as uncovered.
    eventually(uncovered, CENSUS_TO_GRID_S)
    building_s = time.monotonic() - started

    unit = created(
        api.post(
            url(XIANGYUAN, "/units"),
            headers=staff,
            json={"building_id": building["id"], "number": "1单元"},
        )
    )
    dwelling = created(
        api.post(
            url(XIANGYUAN, "/dwellings"), headers=staff, json={"unit_id": unit["id"], "room": "101"}
        )
    )
    started = time.monotonic()
    created(
        api.post(
            url(XIANGYUAN, "/households"),
            headers=staff,
            json={"dwelling_id": dwelling["id"], "tenure": "owner"},
        )
    )

    def counted() -> dict[str, Any] | None:
        figures = workload(api, XIANGYUAN, staff)
        total = figures["total"]
        if total["households"] != before["households"] + 1:
            return None
        return figures

    figures = eventually(counted, CENSUS_TO_GRID_S)
    household_s = time.monotonic() - started
    assert figures["total"]["buildings"] == before["buildings"] + 1
    outside = next(p for p in figures["parts"] if p["scope"] == "uncovered")
    assert outside["buildings"] >= 1
    assert outside["households"] >= 1
    print(f"census → grid workload: building {building_s:.2f} s, household {household_s:.2f} s")


def import_csv(complex_name: str, first_sequence: int) -> bytes:
    today = date.today().isoformat()
    place = [complex_name, "2幢", "1单元", "301"]
    rows = [
        ["周联调", id_number("19480101", first_sequence), "13900001111", "户主", "户籍", "自有",
         *place, "2020-05-01", "独居", "", today],
        ["吴联调", id_number("19500202", first_sequence + 1), "", "配偶", "户籍", "自有",
         *place, "2020-05-01", "", "", today],
    ]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.header_zh for column in COLUMNS])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def test_a_csv_import_reaches_the_community_workload_by_a_resync(
    api: httpx.Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    staff = as_user("hushan-staff")
    before = workload(api, HUSHAN, staff)["total"]
    name = f"导入苑{uuid.uuid4().hex[:6]}"
    sequence = 100 + uuid.uuid4().int % 800
    started = time.monotonic()
    response = api.post(
        url(HUSHAN, "/imports"),
        headers=staff,
        files={"file": ("联调.csv", import_csv(name, sequence), "text/csv")},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows_imported"], report["rejected"]) == (2, [])

    # The building's, the household's and the residents' events are keyed by their own
    # aggregates, so they may reach the grid in any order: wait for all of them.
    def reflected() -> dict[str, Any] | None:
        total: dict[str, Any] = workload(api, HUSHAN, staff)["total"]
        arrived = (
            total["residents"] == before["residents"] + 2
            and total["buildings"] == before["buildings"] + 1
            and total["households"] == before["households"] + 1
        )
        return total if arrived else None

    after = eventually(reflected, IMPORT_TO_GRID_S, 0.2)
    import_s = time.monotonic() - started
    assert after["care_tagged_residents"] >= before["care_tagged_residents"] + 1
    print(f"import (2 rows) → grid workload: {import_s:.2f} s")


def test_a_grid_worker_sees_only_the_visits_of_their_own_grid(
    api: httpx.Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    staff, worker = as_user("hushan-staff"), as_user("hushan-grid")
    grids = {g["number"]: g for g in items(api, HUSHAN, "/grids", staff)}
    own, other = grids[1], grids[2]  # the seed links hushan-grid to grid 1
    visited: dict[str, str] = {}
    for grid in (own, other):
        building_id = items(api, HUSHAN, f"/grids/{grid['id']}/buildings", staff)[0]["building_id"]
        visit = created(
            api.post(
                url(HUSHAN, "/visits"),
                headers=staff,
                json={"building_id": building_id, "findings": f"联调走访{grid['number']}号网格"},
            )
        )
        assert visit["grid_id"] == grid["id"]
        visited[grid["id"]] = visit["id"]

    seen = items(api, HUSHAN, "/visits", worker)
    assert {v["grid_id"] for v in seen} == {own["id"]}
    assert visited[own["id"]] in {v["id"] for v in seen}
    assert set(visited.values()) <= {v["id"] for v in items(api, HUSHAN, "/visits", staff)}
    # Another community's visits are not theirs to read.
    assert_problem(api.get(url(SHIBEI, "/visits"), headers=worker), 403)
