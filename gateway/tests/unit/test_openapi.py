"""The OpenAPI document is the contract clients generate code from: it must stay stable."""

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.app import create_app, prepare_core
from gateway.config import GatewaySettings

EXPECTED_OPERATIONS = {
    ("get", "/api/v1/me"): "getMe",
    ("get", "/api/v1/tenants"): "listTenants",
    ("post", "/api/v1/tenants"): "onboardCommunity",
    ("get", "/api/v1/tenants/{tenant}"): "getTenant",
    ("get", "/api/v1/tenants/{tenant}/members"): "listMembers",
    ("post", "/api/v1/tenants/{tenant}/members"): "createMember",
    ("get", "/api/v1/tenants/{tenant}/audit"): "listAuditEntries",
    ("get", "/api/v1/audit"): "listPlatformAuditEntries",
    ("post", "/api/v1/tenants/{tenant}/members/{member_id}/disable"): "disableMember",
    ("get", "/api/v1/tenants/{tenant}/complexes"): "listComplexes",
    ("post", "/api/v1/tenants/{tenant}/complexes"): "createComplex",
    ("get", "/api/v1/tenants/{tenant}/buildings"): "listBuildings",
    ("post", "/api/v1/tenants/{tenant}/buildings"): "createBuilding",
    ("get", "/api/v1/tenants/{tenant}/buildings/{building_id}"): "getBuilding",
    ("patch", "/api/v1/tenants/{tenant}/buildings/{building_id}"): "updateBuilding",
    ("delete", "/api/v1/tenants/{tenant}/buildings/{building_id}"): "removeBuilding",
    ("post", "/api/v1/tenants/{tenant}/units"): "createUnit",
    ("get", "/api/v1/tenants/{tenant}/dwellings"): "listDwellings",
    ("post", "/api/v1/tenants/{tenant}/dwellings"): "createDwelling",
    ("get", "/api/v1/tenants/{tenant}/households"): "listHouseholds",
    ("post", "/api/v1/tenants/{tenant}/households"): "createHousehold",
    ("patch", "/api/v1/tenants/{tenant}/households/{household_id}"): "updateHousehold",
    ("delete", "/api/v1/tenants/{tenant}/households/{household_id}"): "removeHousehold",
    ("get", "/api/v1/tenants/{tenant}/residents"): "listResidents",
    ("post", "/api/v1/tenants/{tenant}/residents"): "createResident",
    ("post", "/api/v1/tenants/{tenant}/residents/search"): "searchResidents",
    ("get", "/api/v1/tenants/{tenant}/residents/{resident_id}"): "getResident",
    ("post", "/api/v1/tenants/{tenant}/residents/{resident_id}/reveal"): "revealResident",
    ("patch", "/api/v1/tenants/{tenant}/residents/{resident_id}"): "updateResident",
    ("post", "/api/v1/tenants/{tenant}/residents/{resident_id}/move"): "moveResident",
    ("post", "/api/v1/tenants/{tenant}/residents/{resident_id}/remove"): "removeResident",
    ("post", "/api/v1/tenants/{tenant}/imports"): "importResidents",
    ("get", "/api/v1/tenants/{tenant}/imports/template"): "getImportTemplate",
    ("get", "/api/v1/tenants/{tenant}/residents/export"): "exportResidents",
    ("post", "/api/v1/tenants/{tenant}/residents/export"): "exportResidentsRevealed",
    ("get", "/api/v1/tenants/{tenant}/enterprises"): "listEnterprises",
    ("post", "/api/v1/tenants/{tenant}/enterprises"): "createEnterprise",
    ("get", "/api/v1/tenants/{tenant}/enterprises/{enterprise_id}"): "getEnterprise",
    ("patch", "/api/v1/tenants/{tenant}/enterprises/{enterprise_id}"): "updateEnterprise",
    ("delete", "/api/v1/tenants/{tenant}/enterprises/{enterprise_id}"): "removeEnterprise",
    ("get", "/api/v1/tenants/{tenant}/organizations"): "listOrganizations",
    ("post", "/api/v1/tenants/{tenant}/organizations"): "createOrganization",
    ("get", "/api/v1/tenants/{tenant}/stats/census"): "getCensusStatistics",
    ("get", "/api/v1/tenants/{tenant}/grids"): "listGrids",
    ("post", "/api/v1/tenants/{tenant}/grids"): "createGrid",
    ("get", "/api/v1/tenants/{tenant}/grids/{grid_id}"): "getGrid",
    ("patch", "/api/v1/tenants/{tenant}/grids/{grid_id}"): "updateGrid",
    ("delete", "/api/v1/tenants/{tenant}/grids/{grid_id}"): "removeGrid",
    ("get", "/api/v1/tenants/{tenant}/micro-grids"): "listMicroGrids",
    ("post", "/api/v1/tenants/{tenant}/micro-grids"): "createMicroGrid",
    ("patch", "/api/v1/tenants/{tenant}/micro-grids/{micro_grid_id}"): "updateMicroGrid",
    ("delete", "/api/v1/tenants/{tenant}/micro-grids/{micro_grid_id}"): "removeMicroGrid",
    ("get", "/api/v1/tenants/{tenant}/grids/{grid_id}/buildings"): "listGridBuildings",
    ("post", "/api/v1/tenants/{tenant}/grids/{grid_id}/buildings"): "assignGridBuildings",
    (
        "delete",
        "/api/v1/tenants/{tenant}/grids/{grid_id}/buildings/{building_id}",
    ): "unassignGridBuilding",
    ("get", "/api/v1/tenants/{tenant}/coverage/uncovered"): "listUncoveredBuildings",
    ("get", "/api/v1/tenants/{tenant}/buildings/{building_id}/coverage"): "getBuildingCoverage",
    ("get", "/api/v1/tenants/{tenant}/grids/{grid_id}/members"): "listGridMembers",
    ("post", "/api/v1/tenants/{tenant}/grids/{grid_id}/members"): "addGridMember",
    (
        "delete",
        "/api/v1/tenants/{tenant}/grids/{grid_id}/members/{member_id}",
    ): "removeGridMember",
    ("get", "/api/v1/tenants/{tenant}/visits"): "listVisits",
    ("post", "/api/v1/tenants/{tenant}/visits"): "recordVisit",
    ("post", "/api/v1/tenants/{tenant}/grid-plans"): "proposeGridPlan",
    ("get", "/api/v1/tenants/{tenant}/grid-plans/{plan_id}"): "getGridPlan",
    ("post", "/api/v1/tenants/{tenant}/grid-plans/{plan_id}/apply"): "applyGridPlan",
    ("get", "/api/v1/tenants/{tenant}/stats/grids"): "getGridWorkload",
    ("post", "/api/v1/tenants/{tenant}/cases"): "reportCase",
    ("get", "/api/v1/tenants/{tenant}/cases"): "listCases",
    ("get", "/api/v1/tenants/{tenant}/cases/{case_id}"): "getCase",
    ("post", "/api/v1/tenants/{tenant}/cases/{case_id}/actions"): "takeCaseAction",
    ("get", "/api/v1/tenants/{tenant}/cases/{case_id}/timeline"): "listCaseTimeline",
    ("get", "/api/v1/tenants/{tenant}/case-categories"): "listCaseCategories",
    ("get", "/api/v1/tenants/{tenant}/case-categories/{code}"): "getCaseCategory",
    ("put", "/api/v1/tenants/{tenant}/case-categories/{code}"): "putCaseCategory",
    ("post", "/api/v1/tenants/{tenant}/case-categories/seed"): "seedCaseCategories",
    ("get", "/api/v1/tenants/{tenant}/case-calendar"): "getCaseCalendar",
    ("put", "/api/v1/tenants/{tenant}/case-calendar"): "putCaseCalendar",
    ("get", "/api/v1/tenants/{tenant}/stats/cases"): "getCaseStatistics",
    ("post", "/api/v1/tenants/{tenant}/notices"): "createNotice",
    ("get", "/api/v1/tenants/{tenant}/notices"): "listNotices",
    ("post", "/api/v1/tenants/{tenant}/notices/preview"): "previewNotice",
    ("get", "/api/v1/tenants/{tenant}/notices/{notice_id}"): "getNotice",
    ("post", "/api/v1/tenants/{tenant}/notices/{notice_id}/cancel"): "cancelNotice",
    ("get", "/api/v1/tenants/{tenant}/notices/{notice_id}/deliveries"): "listNoticeDeliveries",
    ("post", "/api/v1/tenants/{tenant}/notices/{notice_id}/resend"): "resendFailedDeliveries",
    ("get", "/api/v1/tenants/{tenant}/notification-templates"): "listNotificationTemplates",
    ("get", "/api/v1/tenants/{tenant}/notification-templates/{code}"): "getNotificationTemplate",
    ("put", "/api/v1/tenants/{tenant}/notification-templates/{code}"): "putNotificationTemplate",
    ("get", "/api/v1/tenants/{tenant}/notification-settings"): "getNotificationSettings",
    ("put", "/api/v1/tenants/{tenant}/notification-settings"): "putNotificationSettings",
    ("get", "/api/v1/tenants/{tenant}/notification-robots"): "listNotificationRobots",
    ("post", "/api/v1/tenants/{tenant}/notification-robots"): "createNotificationRobot",
    ("put", "/api/v1/tenants/{tenant}/notification-robots/{robot_id}"): "putNotificationRobot",
    (
        "delete",
        "/api/v1/tenants/{tenant}/notification-robots/{robot_id}",
    ): "removeNotificationRobot",
    (
        "get",
        "/api/v1/tenants/{tenant}/notification-contacts/{resident_id}",
    ): "getNotificationContact",
    (
        "put",
        "/api/v1/tenants/{tenant}/notification-contacts/{resident_id}",
    ): "putNotificationContact",
    ("get", "/api/v1/tenants/{tenant}/stats/notices"): "getNoticeStatistics",
    ("get", "/api/v1/inbox"): "listInbox",
    ("post", "/api/v1/inbox/read"): "markInboxRead",
    ("get", "/open311/v2/{tenant}/discovery.{fmt}"): "getOpen311Discovery",
    ("get", "/open311/v2/{tenant}/services.{fmt}"): "listOpen311Services",
    ("get", "/open311/v2/{tenant}/services/{service_code}.{fmt}"): "getOpen311ServiceDefinition",
    ("post", "/open311/v2/{tenant}/requests.{fmt}"): "createOpen311Request",
    ("get", "/open311/v2/{tenant}/requests.{fmt}"): "listOpen311Requests",
    ("get", "/open311/v2/{tenant}/requests/{service_request_id}.{fmt}"): "getOpen311Request",
    ("get", "/healthz"): "healthz",
    ("get", "/readyz"): "readyz",
    ("get", "/api/v1/ops/outbox"): "getOutboxStatus",
    ("post", "/api/v1/ops/outbox/replay"): "replayOutbox",
    ("get", "/api/v1/ops/consumers"): "getConsumerLag",
    ("post", "/api/v1/ops/projections/{service}/{name}/rebuild"): "rebuildProjection",
}


@pytest.fixture(scope="module")
def openapi() -> Iterator[dict[str, Any]]:
    # Nothing connects while the document is generated: engine and clients are lazy.
    with prepare_core(GatewaySettings()) as core:
        yield create_app(core).openapi()


def test_every_route_has_its_stable_operation_id(openapi: dict[str, Any]) -> None:
    found = {
        (method, path): operation["operationId"]
        for path, methods in openapi["paths"].items()
        for method, operation in methods.items()
    }
    assert found == EXPECTED_OPERATIONS


def test_operation_ids_are_unique(openapi: dict[str, Any]) -> None:
    ids = [op["operationId"] for methods in openapi["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
