"""The grid routes through the gateway, against real census and grid gRPC servers, a real Kafka
broker between them, and real tokens.

Both services run in this process on free ports with databases of their own (``gateway_grid``,
``gateway_grid_census``) and a census topic of their own, so no other test's rows or events
reach them. The census relay and the grid's census consumer run as threads: the census's
writes reach the grid's workload the way they do in production.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from census.__main__ import MIGRATIONS as CENSUS_MIGRATIONS
from census.app import CensusCore
from census.app import build_server as build_census_server
from census.app import prepare_core as prepare_census
from census.config import CensusSettings
from census.people.models import Household
from census.places.models import Building
from census.seed import seed_demo_community
from gateway.app import GatewayCore, create_app, prepare_core
from gateway.config import GatewaySettings
from gateway.grid import views as grid_views
from grid.__main__ import MIGRATIONS as GRID_MIGRATIONS
from grid.app import build_server as build_grid_server
from grid.app import census_consumer
from grid.app import prepare_core as prepare_grid
from grid.config import GridSettings
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of, with_tampered_claims
from shequ_infra.processes import free_port
from shequ_infra.rest_checks import (
    assert_problem,
    auth,
    call_route,
    fields_of,
    served_routes,
)
from shequ_infra.rest_checks import tenant_url as url
from shequ_kit.migrations import upgrade
from shequ_kit.relay import OutboxRelay
from shequ_kit.tenancy import TenantId, tenant_scope
from shequ_kit.tokens import TokenVerifier

Login = Callable[..., str]
HUSHAN = "xiaoshan.shushan.hushan"
SHIBEI = "xiaoshan.beigan.shibei"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
# Every grid route (a test below checks the list is complete); call_route fills in the ids.
GRID_ROUTES = [
    ("get", "/grids"),
    ("post", "/grids"),
    ("get", "/grids/{grid_id}"),
    ("patch", "/grids/{grid_id}"),
    ("delete", "/grids/{grid_id}"),
    ("get", "/micro-grids"),
    ("post", "/micro-grids"),
    ("patch", "/micro-grids/{micro_grid_id}"),
    ("delete", "/micro-grids/{micro_grid_id}"),
    ("get", "/grids/{grid_id}/buildings"),
    ("post", "/grids/{grid_id}/buildings"),
    ("delete", "/grids/{grid_id}/buildings/{building_id}"),
    ("get", "/coverage/uncovered"),
    ("get", "/buildings/{building_id}/coverage"),
    ("get", "/grids/{grid_id}/members"),
    ("post", "/grids/{grid_id}/members"),
    ("delete", "/grids/{grid_id}/members/{member_id}"),
    ("get", "/visits"),
    ("post", "/visits"),
    ("post", "/grid-plans"),
    ("get", "/grid-plans/{plan_id}"),
    ("post", "/grid-plans/{plan_id}/apply"),
    ("get", "/stats/grids"),
]
CENSUS_TO_WORKLOAD_S = 2.0


@dataclass
class GridServices:
    census_target: str
    grid_target: str
    # What the census seed wrote, per community.
    buildings: dict[str, int] = field(default_factory=dict)
    households: dict[str, int] = field(default_factory=dict)


def in_thread(stack: ExitStack, run: Callable[[threading.Event], None], name: str) -> None:
    """Run ``run(stop)`` in a daemon thread until the stack closes."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), name=name, daemon=True)
    thread.start()
    stack.callback(thread.join, 10)
    stack.callback(stop.set)


@pytest.fixture(scope="module")
def services(infra: LocalInfrastructure) -> Iterator[GridServices]:
    """Census (Shibei and Hushan seeded) and grid servers, the census relay and the grid's
    census consumer, on a census topic of this module's own."""
    census_topic = f"shequ.census.v1.gateway-grid-{uuid.uuid4().hex[:8]}"
    for database in ("gateway_grid_census", "gateway_grid"):
        infra.postgres.create_database(database)
    census_settings = CensusSettings(
        database_url=infra.postgres.dsn("gateway_grid_census"),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        events_topic=census_topic,
    )
    grid_settings = GridSettings(
        database_url=infra.postgres.dsn("gateway_grid"),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        census_target=f"127.0.0.1:{census_settings.grpc_port}",
        census_topic=census_topic,
        events_topic=f"shequ.grid.v1.gateway-grid-{uuid.uuid4().hex[:8]}",
        consumer_group=f"grid-{uuid.uuid4().hex[:8]}",
    )
    upgrade(CENSUS_MIGRATIONS, census_settings.database_url)
    upgrade(GRID_MIGRATIONS, grid_settings.database_url)
    with ExitStack() as stack:
        census_core = stack.enter_context(prepare_census(census_settings))
        census_server = build_census_server(census_core)
        census_server.start()
        stack.callback(census_server.stop, None)
        grid_core = stack.enter_context(prepare_grid(grid_settings))
        grid_server = build_grid_server(grid_core)
        grid_server.start()
        stack.callback(grid_server.stop, None)
        relay = stack.enter_context(
            OutboxRelay(
                census_core.engine,
                service="census",
                bootstrap_servers=infra.kafka.bootstrap_servers,
            )
        )
        in_thread(stack, lambda stop: relay.run_forever(stop, idle_sleep_s=0.05), "relay")
        consumer = stack.enter_context(census_consumer(grid_core))
        in_thread(stack, consumer.run_forever, "consumer")
        running = GridServices(
            census_target=f"127.0.0.1:{census_settings.grpc_port}",
            grid_target=f"127.0.0.1:{grid_settings.grpc_port}",
        )
        for tenant in (SHIBEI, HUSHAN):
            seed_demo_community(census_core, tenant)
            running.buildings[tenant], running.households[tenant] = census_counts(
                census_core, tenant
            )
        yield running


def census_counts(core: CensusCore, tenant: str) -> tuple[int, int]:
    """Buildings and households the census holds for ``tenant``, read from its tables."""
    with tenant_scope(TenantId.parse(tenant)), core.sessions() as session:
        buildings = session.scalar(select(func.count()).select_from(Building)) or 0
        households = session.scalar(select(func.count()).select_from(Household)) or 0
    return int(buildings), int(households)


@pytest.fixture(scope="module")
def gateway(gateway_settings: GatewaySettings, services: GridServices) -> Iterator[GatewayCore]:
    settings = gateway_settings.model_copy(
        update={"census_target": services.census_target, "grid_target": services.grid_target}
    )
    with prepare_core(settings) as core:
        yield core


@pytest.fixture(scope="module")
def api(gateway: GatewayCore) -> TestClient:
    return TestClient(create_app(gateway), raise_server_exceptions=False)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def every_item(api: TestClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        separator = "&" if "?" in path else "?"
        page = ok(api.get(f"{path}{separator}page_size=500&page_token={token}", headers=headers))
        items += page["items"]
        token = page["next_page_token"]
        if not token:
            return items


def workload(api: TestClient, tenant: str, headers: dict[str, str]) -> dict[str, Any]:
    figures: dict[str, Any] = ok(api.get(url(tenant, "/stats/grids"), headers=headers))
    return figures


def wait_for_projection(
    api: TestClient, tenant: str, headers: dict[str, str], households: int
) -> None:
    """The census seed's one ResidentsImported fact makes the grid re-sync the community."""
    deadline = time.monotonic() + 60
    while workload(api, tenant, headers)["total"]["households"] != households:
        assert time.monotonic() < deadline, "the grid never caught up with the census seed"
        time.sleep(0.5)


# ---- Shibei: 13 grids and 45 micro-grids from the demo data ----


@pytest.fixture(scope="module")
def shibei_staff(token_of: Login) -> dict[str, str]:
    return auth(token_of("shibei-staff"))


@pytest.fixture(scope="module")
def shibei_layout(
    api: TestClient, services: GridServices, shibei_staff: dict[str, str]
) -> dict[str, Any]:
    """Propose → review → apply, as staff do it."""
    wait_for_projection(api, SHIBEI, shibei_staff, services.households[SHIBEI])
    proposed = ok(
        api.post(
            url(SHIBEI, "/grid-plans"), headers=shibei_staff, json={"grids": 13, "micro_grids": 45}
        ),
        201,
    )
    reviewed = ok(api.get(url(SHIBEI, f"/grid-plans/{proposed['id']}"), headers=shibei_staff))
    applied = ok(api.post(url(SHIBEI, f"/grid-plans/{proposed['id']}/apply"), headers=shibei_staff))
    return {"proposed": proposed, "reviewed": reviewed, "applied": applied}


def test_shibei_gets_13_grids_and_45_micro_grids_covering_every_building(
    api: TestClient, services: GridServices, shibei_staff: dict[str, str], shibei_layout: Any
) -> None:
    plan = shibei_layout["reviewed"]
    assert plan["state"] == "open"
    assert (len(plan["proposed_grids"]), len(plan["proposed_micro_grids"])) == (13, 45)
    proposed_buildings = [b for m in plan["proposed_micro_grids"] for b in m["building_ids"]]
    assert len(proposed_buildings) == len(set(proposed_buildings)) == services.buildings[SHIBEI]
    # Nothing was covered before: every building is placed, none moved.
    assert plan["diff"]["placed_buildings"] == services.buildings[SHIBEI]
    assert plan["micro_grid_balance"]["count"] == 45
    assert plan["current_micro_grid_balance"] is None

    assert shibei_layout["applied"]["plan"]["state"] == "applied"
    grids = every_item(api, url(SHIBEI, "/grids"), shibei_staff)
    micro_grids = every_item(api, url(SHIBEI, "/micro-grids"), shibei_staff)
    assert (len(grids), len(micro_grids)) == (13, 45)
    assert sorted(g["number"] for g in grids) == list(range(1, 14))
    assert all(len(g["code"]) == 15 and g["code"].endswith(f"{g['number']:03d}") for g in grids)
    assert all(len(m["code"]) == 17 for m in micro_grids)
    assert sum(m["building_count"] for m in micro_grids) == services.buildings[SHIBEI]
    uncovered = ok(api.get(url(SHIBEI, "/coverage/uncovered"), headers=shibei_staff))
    assert uncovered["items"] == []


def test_the_workload_splits_shibei_by_grid_and_adds_up(
    api: TestClient, services: GridServices, shibei_staff: dict[str, str], shibei_layout: Any
) -> None:
    figures = workload(api, SHIBEI, shibei_staff)
    assert figures["total"]["households"] == services.households[SHIBEI]
    grids = [p for p in figures["parts"] if p["scope"] == "grid"]
    micro_grids = [p for p in figures["parts"] if p["scope"] == "micro_grid"]
    assert (len(grids), len(micro_grids)) == (13, 45)
    assert sum(g["households"] for g in grids) == services.households[SHIBEI]
    assert sum(m["residents"] for m in micro_grids) == figures["total"]["residents"]


def test_a_plan_applied_once_cannot_be_applied_again(
    api: TestClient, shibei_staff: dict[str, str], shibei_layout: Any
) -> None:
    plan_id = shibei_layout["proposed"]["id"]
    again = api.post(url(SHIBEI, f"/grid-plans/{plan_id}/apply"), headers=shibei_staff)
    assert_problem(again, 409)


def test_a_rebalance_after_applying_moves_few_buildings(
    api: TestClient, services: GridServices, shibei_staff: dict[str, str], shibei_layout: Any
) -> None:
    proposed = ok(
        api.post(
            url(SHIBEI, "/grid-plans"),
            headers=shibei_staff,
            json={"grids": 13, "micro_grids": 45, "mode": "rebalance", "stability": 1},
        ),
        201,
    )
    assert proposed["current_micro_grid_balance"]["count"] == 45
    assert proposed["diff"]["changed_buildings"] < 0.15 * services.buildings[SHIBEI]


def test_a_street_admin_sees_the_workload_per_community(
    api: TestClient, token_of: Login, shibei_layout: Any
) -> None:
    figures = workload(api, "xiaoshan.beigan", auth(token_of("beigan-admin")))
    communities = {p["scope_id"]: p for p in figures["parts"] if p["scope"] == "community"}
    assert SHIBEI in communities
    assert communities[SHIBEI]["households"] == figures["total"]["households"]


# ---- Hushan: coverage, members, visits ----


@pytest.fixture(scope="module")
def staff(token_of: Login) -> dict[str, str]:
    return auth(token_of("hushan-staff"))


@pytest.fixture(scope="module")
def hushan(api: TestClient, services: GridServices, staff: dict[str, str]) -> dict[str, Any]:
    """Two grids of one micro-grid each; the hushan-grid account works in the first only."""
    wait_for_projection(api, HUSHAN, staff, services.households[HUSHAN])
    buildings = every_item(api, url(HUSHAN, "/buildings"), staff)
    first = ok(api.post(url(HUSHAN, "/grids"), headers=staff, json={"name": "湖山第一网格"}), 201)
    second = ok(api.post(url(HUSHAN, "/grids"), headers=staff, json={"name": "湖山第二网格"}), 201)
    micro = {
        grid["id"]: ok(
            api.post(
                url(HUSHAN, "/micro-grids"),
                headers=staff,
                json={"grid_id": grid["id"], "name": f"{grid['name']}一号微网格"},
            ),
            201,
        )
        for grid in (first, second)
    }
    for grid, building in ((first, buildings[0]), (second, buildings[1])):
        ok(
            api.post(
                url(HUSHAN, f"/grids/{grid['id']}/buildings"),
                headers=staff,
                json={"micro_grid_id": micro[grid["id"]]["id"], "building_ids": [building["id"]]},
            )
        )
    return {
        "grids": (first, second),
        "micro_grids": (micro[first["id"]], micro[second["id"]]),
        "buildings": buildings,
    }


@pytest.fixture(scope="module")
def grid_worker(
    api: TestClient, token_of: Login, staff: dict[str, str], hushan: dict[str, Any]
) -> dict[str, Any]:
    """hushan-grid, a member of the first grid through their account."""
    token = token_of("hushan-grid")
    member = ok(
        api.post(
            url(HUSHAN, f"/grids/{hushan['grids'][0]['id']}/members"),
            headers=staff,
            json={
                "role": "grid_worker",
                "name": "李娜",
                "phone": "13812345678",
                "account_subject": claims_of(token)["sub"],
                "account_username": "hushan-grid",
            },
        ),
        201,
    )
    return {"headers": auth(token), "member": member}


def test_a_building_cannot_be_covered_twice(
    api: TestClient, staff: dict[str, str], hushan: dict[str, Any]
) -> None:
    taken = hushan["buildings"][0]["id"]
    second_grid, second_micro = hushan["grids"][1], hushan["micro_grids"][1]
    response = api.post(
        url(HUSHAN, f"/grids/{second_grid['id']}/buildings"),
        headers=staff,
        json={"micro_grid_id": second_micro["id"], "building_ids": [taken]},
    )
    problem = assert_problem(response, 409)
    assert taken in (*problem.get("params", {}).values(), problem["detail_en"])
    covering = ok(api.get(url(HUSHAN, f"/buildings/{taken}/coverage"), headers=staff))
    assert covering["micro_grid"]["id"] == hushan["micro_grids"][0]["id"]


def test_a_micro_grid_of_another_grid_is_refused_by_name(
    api: TestClient, staff: dict[str, str], hushan: dict[str, Any]
) -> None:
    response = api.post(
        url(HUSHAN, f"/grids/{hushan['grids'][0]['id']}/buildings"),
        headers=staff,
        json={
            "micro_grid_id": hushan["micro_grids"][1]["id"],
            "building_ids": [hushan["buildings"][2]["id"]],
        },
    )
    problem = assert_problem(response, 422, "grid.micro_grid_of_another_grid")
    assert fields_of(problem) == {"body.micro_grid_id"}


def test_who_covers_a_building_lists_the_escalation_order(
    api: TestClient, staff: dict[str, str], hushan: dict[str, Any], grid_worker: dict[str, Any]
) -> None:
    building = hushan["buildings"][0]["id"]
    covering = ok(api.get(url(HUSHAN, f"/buildings/{building}/coverage"), headers=staff))
    assert covering["grid"]["id"] == hushan["grids"][0]["id"]
    levels = [step["level"] for step in covering["escalation"]]
    assert levels[-1] == "community"
    assert "grid_worker" in levels
    worker = next(s for s in covering["escalation"] if s["level"] == "grid_worker")
    assert worker["member"]["phone"] == "138****5678"


def test_a_grid_worker_sees_the_visits_of_their_own_grids_only(
    api: TestClient, staff: dict[str, str], hushan: dict[str, Any], grid_worker: dict[str, Any]
) -> None:
    own, other = hushan["buildings"][0]["id"], hushan["buildings"][1]["id"]
    for building in (own, other):
        ok(
            api.post(
                url(HUSHAN, "/visits"),
                headers=staff,
                json={"building_id": building, "findings": f"楼道堆积物 {building[:8]}"},
            ),
            201,
        )
    recorded = ok(
        api.post(
            url(HUSHAN, "/visits"),
            headers=grid_worker["headers"],
            json={"building_id": own, "findings": "独居老人身体良好", "follow_up": "下周再访"},
        ),
        201,
    )
    assert recorded["member_id"] == grid_worker["member"]["id"]
    seen = every_item(api, url(HUSHAN, "/visits"), grid_worker["headers"])
    assert {v["building_id"] for v in seen} == {own}
    everything = every_item(api, url(HUSHAN, "/visits"), staff)
    assert {own, other} <= {v["building_id"] for v in everything}


def test_a_grid_worker_records_visits_but_does_not_draw_grids(
    api: TestClient, grid_worker: dict[str, Any]
) -> None:
    response = api.post(url(HUSHAN, "/grids"), headers=grid_worker["headers"], json={"name": "x"})
    assert_problem(response, 403, "auth.permission_denied")


def test_a_visit_to_a_dwelling_of_another_community_is_refused(
    api: TestClient, staff: dict[str, str], shibei_staff: dict[str, str], hushan: dict[str, Any]
) -> None:
    building = ok(api.get(url(SHIBEI, "/buildings?page_size=1"), headers=shibei_staff))
    dwellings = ok(
        api.get(
            url(SHIBEI, f"/dwellings?building_id={building['items'][0]['id']}&page_size=1"),
            headers=shibei_staff,
        )
    )
    response = api.post(
        url(HUSHAN, "/visits"),
        headers=staff,
        json={"dwelling_id": dwellings["items"][0]["id"], "findings": "走错社区"},
    )
    problem = assert_problem(response, response.status_code)
    assert response.status_code in (404, 422)
    assert any("dwelling_id" in f for f in fields_of(problem)) or "dwelling" in problem["code"]


def test_residents_do_not_read_the_grids(api: TestClient, token_of: Login) -> None:
    response = api.get(url(HUSHAN, "/grids"), headers=auth(token_of("hushan-resident")))
    assert_problem(response, 403, "auth.permission_denied")


def test_a_hushan_grid_is_not_found_under_xiangyuan(
    api: TestClient, token_of: Login, hushan: dict[str, Any]
) -> None:
    grid_id = hushan["grids"][0]["id"]
    response = api.get(
        url(XIANGYUAN, f"/grids/{grid_id}"), headers=auth(token_of("xiangyuan-staff"))
    )
    assert_problem(response, 404)


def test_a_stale_grid_version_is_a_409(
    api: TestClient, staff: dict[str, str], hushan: dict[str, Any]
) -> None:
    grid = hushan["grids"][1]
    renamed = ok(
        api.patch(
            url(HUSHAN, f"/grids/{grid['id']}"),
            headers=staff,
            json={"name": "湖山第二网格（东）", "expected_version": grid["version"]},
        )
    )
    assert renamed["name"] == "湖山第二网格（东）"
    assert renamed["number"] == grid["number"]
    stale = api.patch(
        url(HUSHAN, f"/grids/{grid['id']}"),
        headers=staff,
        json={"name": "又改名", "expected_version": grid["version"]},
    )
    assert_problem(stale, 409)


# ---- the census's writes reach the grid's workload through Kafka ----


def test_a_new_household_appears_in_the_workload_within_2_seconds(
    api: TestClient, shibei_staff: dict[str, str], shibei_layout: Any
) -> None:
    before = workload(api, SHIBEI, shibei_staff)
    complex_ = ok(
        api.post(
            url(SHIBEI, "/complexes"),
            headers=shibei_staff,
            json={"name": f"新苑{uuid.uuid4().hex[:4]}"},
        ),
        201,
    )
    building = ok(
        api.post(
            url(SHIBEI, "/buildings"),
            headers=shibei_staff,
            json={"complex_id": complex_["id"], "number": "1幢", "floors": 6},
        ),
        201,
    )
    unit = ok(
        api.post(
            url(SHIBEI, "/units"),
            headers=shibei_staff,
            json={"building_id": building["id"], "number": "1单元"},
        ),
        201,
    )
    dwelling = ok(
        api.post(
            url(SHIBEI, "/dwellings"),
            headers=shibei_staff,
            json={"unit_id": unit["id"], "room": "101"},
        ),
        201,
    )
    ok(
        api.post(
            url(SHIBEI, "/households"),
            headers=shibei_staff,
            json={"dwelling_id": dwelling["id"], "tenure": "owner"},
        ),
        201,
    )
    written = time.monotonic()
    while True:
        figures = workload(api, SHIBEI, shibei_staff)
        uncovered = next(p for p in figures["parts"] if p["scope"] == "uncovered")
        if figures["total"]["households"] == before["total"]["households"] + 1:
            break
        assert time.monotonic() - written < CENSUS_TO_WORKLOAD_S, "not in the workload in 2 s"
        time.sleep(0.05)
    # The new building is no micro-grid's yet: it shows as uncovered until staff place it.
    assert uncovered["households"] >= 1
    listed = every_item(api, url(SHIBEI, "/coverage/uncovered"), shibei_staff)
    assert building["id"] in {b["building_id"] for b in listed}


# ---- every route: tokens and tenants ----


def test_the_route_list_of_these_tests_is_every_grid_route(api: TestClient) -> None:
    openapi = api.app.openapi()  # type: ignore[attr-defined]
    assert served_routes(openapi, grid_views.router.tags[0]) == set(GRID_ROUTES)


@pytest.mark.parametrize(("method", "path"), GRID_ROUTES)
def test_another_communitys_staff_get_403_on_every_grid_route(
    api: TestClient, token_of: Login, method: str, path: str
) -> None:
    response = call_route(api, method, path, HUSHAN, auth(token_of("xiangyuan-staff")))
    problem = assert_problem(response, 403, "auth.permission_denied")
    assert problem["params"] == {"tenant": HUSHAN}


@pytest.fixture(scope="module")
def late_api(gateway: GatewayCore, token_of: Login) -> TestClient:
    """The gateway an hour after hushan-staff's token expired."""
    expires_at = float(claims_of(token_of("hushan-staff"))["exp"])
    late = TokenVerifier(
        issuer=gateway.settings.issuer, audience="shequ", clock=lambda: expires_at + 3600
    )
    return TestClient(create_app(replace(gateway, verifier=late)), raise_server_exceptions=False)


@pytest.mark.parametrize("kind", ["missing", "forged", "expired"])
@pytest.mark.parametrize(("method", "path"), GRID_ROUTES)
def test_every_grid_route_needs_a_valid_token(
    api: TestClient, late_api: TestClient, token_of: Login, kind: str, method: str, path: str
) -> None:
    real = token_of("hushan-staff")
    client, headers = {
        "missing": (api, {}),
        "forged": (api, auth(with_tampered_claims(real, groups=["/platform-admin"]))),
        "expired": (late_api, auth(real)),
    }[kind]
    response = call_route(client, method, path, HUSHAN, headers)
    assert_problem(response, 401, "auth.unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
