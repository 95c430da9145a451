"""What the gateway promises about hostile input before any service sees it: unstorable text is
refused naming the field, every route documents the problems it can answer, and a Keycloak
refusal of an account is the caller's input at fault, not the directory being away."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from keycloak.exceptions import KeycloakPostError
from pydantic import BaseModel

from gateway.app import create_app, prepare_core
from gateway.config import GatewaySettings
from gateway.directory import _refused_account
from gateway.inputs import refuse_unstorable_text
from gateway.problems import install_problem_handlers
from shequ_kit.errors import ErrorKind


class Place(BaseModel):
    name: str
    tags: dict[str, str] = {}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI(dependencies=[Depends(refuse_unstorable_text)])
    install_problem_handlers(app)

    @app.post("/places/{code}")
    def create(code: str, place: Place, q: str = "") -> dict[str, str]:
        return {"name": place.name}

    return TestClient(app)


def post(client: TestClient, body: dict[str, Any], path: str = "/places/a") -> Any:
    # ASCII JSON with escapes: the way a lone surrogate reaches a server at all.
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "晴\u0000庐"}, "body.name"),
        ({"name": "晴庐\ud800"}, "body.name"),
        ({"name": "ok", "tags": {"k": "\udc00"}}, "body.tags.k"),
        ({"name": "ok", "tags": {"\u0000": "v"}}, "body.tags.\ufffd"),
    ],
    ids=["nul", "lone high surrogate", "nested value", "key"],
)
def test_unstorable_text_is_refused_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = post(client, body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "request.unstorable_text"
    assert [e["field"] for e in problem["errors"]] == [field]


def test_unstorable_text_in_query_and_path_is_refused_too(client: TestClient) -> None:
    query = post(client, {"name": "ok"}, "/places/a?q=x%00")
    path = post(client, {"name": "ok"}, "/places/a%00")
    assert [e["field"] for e in query.json()["errors"]] == ["query.q"]
    assert [e["field"] for e in path.json()["errors"]] == ["path.code"]


def test_unicode_that_can_be_stored_passes_untouched(client: TestClient) -> None:
    name = "🏠晴庐e\u0301\u200b\u202eשלום"
    response = post(client, {"name": name})
    assert response.status_code == 200
    assert response.json() == {"name": name}


@pytest.fixture(scope="module")
def openapi() -> Iterator[dict[str, Any]]:
    with prepare_core(GatewaySettings()) as core:
        yield create_app(core).openapi()


def test_every_api_route_documents_its_problems_and_no_other_error_shape(
    openapi: dict[str, Any],
) -> None:
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, methods in openapi["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in methods.items():
            for status in ("400", "401", "403", "404", "409", "413", "415", "422", "429", "503"):
                content = operation["responses"][status]["content"]
                assert content == {"application/problem+json": {"schema": problem}}, (
                    method,
                    path,
                    status,
                )
            assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    assert set(openapi["components"]["schemas"]["Problem"]["required"]) >= {
        "type",
        "status",
        "detail",
        "detail_en",
        "code",
    }


def test_georeport_routes_document_their_own_error_list(openapi: dict[str, Any]) -> None:
    for path, methods in openapi["paths"].items():
        if path.startswith("/open311/"):
            for operation in methods.values():
                errors = operation["responses"]["4XX"]["content"]
                assert errors["application/json"]["schema"]["type"] == "array"
                assert "422" not in operation["responses"]


def test_an_account_keycloak_refuses_is_invalid_input_naming_the_field() -> None:
    refusal = KeycloakPostError(
        error_message="bad",
        response_code=400,
        response_body=json.dumps(
            {"field": "firstName", "errorMessage": "error-person-name-invalid-character"}
        ).encode(),
    )
    error = _refused_account(refusal)
    assert error.kind is ErrorKind.INVALID_INPUT
    assert [v.field for v in error.field_violations] == ["display_name"]
