from typing import Any

from shequ_infra.openapi_requests import (
    FORM,
    JSON,
    SchemaValues,
    operations_of,
    planned_request,
)

BUILDING = "0b7c2f9e-1111-4000-8000-000000000001"
COMPLEX = "0b7c2f9e-2222-4000-8000-000000000002"
DOCUMENT: dict[str, Any] = {
    "paths": {
        "/api/v1/tenants/{tenant}/grids/{grid_id}/buildings": {
            "post": {
                "operationId": "assignGridBuildings",
                "x-shequ-roles": ["community-staff"],
                "requestBody": {
                    "content": {JSON: {"schema": {"$ref": "#/components/schemas/Assign"}}}
                },
            },
            "get": {
                "operationId": "listGridBuildings",
                "x-shequ-roles": ["community-staff", "grid-worker"],
                "parameters": [
                    {"name": "building_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "page_size", "in": "query", "schema": {"type": "integer"}},
                ],
            },
        },
        "/open311/v2/{tenant}/requests.{fmt}": {
            "post": {
                "operationId": "createOpen311Request",
                "requestBody": {"content": {FORM: {"schema": {"type": "object"}}}},
            }
        },
        "/healthz": {"get": {"operationId": "healthz"}},
    },
    "components": {
        "schemas": {
            "Assign": {
                "type": "object",
                "required": ["micro_grid_id", "reason", "move"],
                "properties": {
                    "micro_grid_id": {"type": "string", "minLength": 1},
                    "reason": {"type": "string", "examples": ["网格调整"]},
                    "move": {"type": "boolean"},
                    "place": {"anyOf": [{"$ref": "#/components/schemas/Place"}, {"type": "null"}]},
                    "note": {"type": "string"},
                    "building_ids": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Place": {
                "type": "object",
                "properties": {"complex_id": {"type": "string"}, "address": {"type": "string"}},
            },
        }
    },
}
NAMED = {"building_id": BUILDING, "complex_id": COMPLEX, "building_ids": [BUILDING]}


def values() -> SchemaValues:
    return SchemaValues(components=DOCUMENT["components"]["schemas"], naming=NAMED.get)


def operation(operation_id: str) -> Any:
    return next(o for o in operations_of(DOCUMENT) if o.operation_id == operation_id)


def test_operations_carry_their_declared_roles_and_body_type() -> None:
    assign = operation("assignGridBuildings")
    assert assign.roles == {"community-staff"}
    assert assign.body_type == JSON
    assert assign.path_parameters() == [("grids", "grid_id")]
    assert operation("healthz").roles is None


def test_a_body_has_its_required_fields_and_every_field_that_names_a_record() -> None:
    request = planned_request(
        operation("assignGridBuildings"),
        base_url="http://gateway",
        path_values={"tenant": "xiaoshan.shushan.hushan", "grid_id": "g-1"},
        values=values(),
    )
    assert (
        request.url == "http://gateway/api/v1/tenants/xiaoshan.shushan.hushan/grids/g-1/buildings"
    )
    assert request.json == {
        "micro_grid_id": "权限矩阵测试",
        "reason": "网格调整",
        "move": False,
        "place": {"complex_id": COMPLEX},  # optional, but it names a record
        "building_ids": [BUILDING],
    }


def test_a_query_names_the_records_it_filters_by_and_leaves_other_optional_parameters_out() -> None:
    request = planned_request(
        operation("listGridBuildings"),
        base_url="",
        path_values={"tenant": "t", "grid_id": "g"},
        values=values(),
    )
    assert request.params == {"building_id": BUILDING}
    assert request.json is None


def test_undeclared_fields_of_a_form_are_posted_as_the_form() -> None:
    request = planned_request(
        operation("createOpen311Request"),
        base_url="",
        path_values={"tenant": "t", "fmt": "json"},
        values=values(),
        extra_fields={"address_id": BUILDING},
    )
    assert request.url == "/open311/v2/t/requests.json"
    assert request.data == {"address_id": BUILDING}
    assert request.params == {}
    assert BUILDING in request.text()
