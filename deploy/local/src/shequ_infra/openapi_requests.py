"""Requests built from the gateway's own OpenAPI document, one per operation (the isolation
matrix, tests/security), naming chosen records: every path parameter, and every query
parameter and body field the caller wants to name (a record's id, a tenant), gets that value;
every other required field a value that fits its schema (its example first). So a request
passes validation wherever it can and reaches the check that should refuse it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

# Who may call an operation, as the gateway declares it (gateway.access).
ROLES_KEY: Final = "x-shequ-roles"
ALSO_REQUIRES_KEY: Final = "x-shequ-also-requires"

JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"
MULTIPART: Final = "multipart/form-data"
_PARAMETER: Final = re.compile(r"\{(\w+)\}")
_METHODS: Final = ("get", "put", "post", "patch", "delete")

# What a field is given, by name: the value, or None to leave it to its schema.
Naming = Callable[[str], Any]


@dataclass(frozen=True)
class Operation:
    """One path × method of the document."""

    operation_id: str
    method: str
    path: str
    roles: frozenset[str] | None  # None: the operation declares no x-shequ-roles
    also_requires: frozenset[str]
    parameters: tuple[Mapping[str, Any], ...]
    body_type: str | None
    body_schema: Mapping[str, Any] | None

    @property
    def has_tenant_path(self) -> bool:
        return "{tenant}" in self.path

    @property
    def reads(self) -> bool:
        return self.method == "get"

    def path_parameters(self) -> list[tuple[str, str]]:
        """(collection before it, name) of each path parameter but the tenant, in order:
        ``/grids/{grid_id}/members/{member_id}`` → grids/grid_id, members/member_id."""
        found = []
        segments = self.path.strip("/").split("/")
        for position, segment in enumerate(segments):
            for name in _PARAMETER.findall(segment):
                if name != "tenant":
                    found.append((segments[position - 1] if position else "", name))
        return found

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path} ({self.operation_id})"


def operations_of(document: Mapping[str, Any]) -> list[Operation]:
    found = []
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            if method not in _METHODS:
                continue
            body_type, body_schema = None, None
            content = spec.get("requestBody", {}).get("content", {})
            # GeoReport takes a form or multipart: the form, which carries no files.
            for media in (JSON, FORM, MULTIPART):
                if media in content:
                    body_type, body_schema = media, content[media].get("schema", {})
                    break
            found.append(
                Operation(
                    operation_id=spec["operationId"],
                    method=method,
                    path=path,
                    roles=frozenset(spec[ROLES_KEY]) if ROLES_KEY in spec else None,
                    also_requires=frozenset(spec.get(ALSO_REQUIRES_KEY, ())),
                    parameters=tuple(spec.get("parameters", ())),
                    body_type=body_type,
                    body_schema=body_schema,
                )
            )
    return found


@dataclass(frozen=True)
class PlannedRequest:
    method: str
    url: str
    params: dict[str, Any]
    json: Any
    data: dict[str, str] | None
    files: dict[str, tuple[str, bytes, str]] | None

    def text(self) -> str:
        """Everything the caller itself sent, for telling an echo from a leak."""
        return f"{self.url} {self.params} {self.json} {self.data}"

    def with_replaced(self, replacements: Mapping[str, str]) -> PlannedRequest:
        """The same request with every occurrence of each key (an id) replaced by its value."""

        def replaced(value: Any) -> Any:
            text = json.dumps(value, ensure_ascii=False)
            for old, new in replacements.items():
                text = text.replace(old, new)
            return json.loads(text)

        return replace(
            self,
            url=replaced(self.url),
            params=replaced(self.params),
            json=replaced(self.json),
            data=replaced(self.data),
        )


@dataclass(frozen=True)
class SchemaValues:
    """Values that fit a schema of the document, naming records where ``naming`` says."""

    components: Mapping[str, Any]
    naming: Naming

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def names_a_record(self, name: str, schema: Mapping[str, Any], depth: int = 0) -> bool:
        """The field, or one inside it (a case's place, a notice's audience), names a record."""
        if self.naming(name) is not None:
            return True
        schema = self.resolve(schema)
        if depth > 3:
            return False
        branches = [self.resolve(b) for b in schema.get("anyOf", ())] or [schema]
        return any(
            self.names_a_record(k, v, depth + 1)
            for branch in branches
            for k, v in branch.get("properties", {}).items()
        )

    def value(self, schema: Mapping[str, Any], name: str = "") -> Any:  # noqa: PLR0911
        named = self.naming(name) if name else None
        schema = self.resolve(schema)
        if named is not None:
            return named
        for branch in schema.get("anyOf", ()) or schema.get("oneOf", ()):
            if self.resolve(branch).get("type") != "null":
                return self.value(branch, name)
        if schema.get("examples"):
            return schema["examples"][0]
        if schema.get("default") is not None:
            return schema["default"]
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self.object_value(schema)
        if kind == "array":
            wanted = int(schema.get("minItems", 0))
            return [self.value(schema.get("items", {}))] * wanted
        if kind in {"integer", "number"}:
            return max(int(schema.get("minimum", 1)), 1)
        if kind == "boolean":
            return False
        return self.text_value(schema)

    def object_value(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """The required fields, and every optional one that names a record."""
        required = set(schema.get("required", ()))
        return {
            name: self.value(field, name)
            for name, field in schema.get("properties", {}).items()
            if name in required or self.names_a_record(name, field)
        }

    def with_one_correction(
        self, schema: Mapping[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        """A correction (PATCH) changes something: the body and its first optional field."""
        optional = (
            (name, field)
            for name, field in self.resolve(schema).get("properties", {}).items()
            if name not in body
        )
        first = next(optional, None)
        return body if first is None else {**body, first[0]: self.value(first[1], first[0])}

    @staticmethod
    def text_value(schema: Mapping[str, Any]) -> str:
        formats = {
            "date": datetime.now(UTC).date().isoformat(),
            "date-time": datetime.now(UTC).isoformat(),
            "uuid": "6b1a8c54-0000-4000-8000-000000000000",
            "email": "matrix@example.org",
        }
        if schema.get("format") in formats:
            return formats[schema["format"]]
        shortest, longest = int(schema.get("minLength", 0)), int(schema.get("maxLength", 40))
        text = "权限矩阵测试" * (shortest // 6 + 1)
        return text[: max(shortest, min(len(text), longest))]


def planned_request(
    operation: Operation,
    *,
    base_url: str,
    path_values: Mapping[str, str],
    values: SchemaValues,
    extra_fields: Mapping[str, Any] = {},
) -> PlannedRequest:
    """The request of ``operation`` with its path filled from ``path_values`` (by parameter
    name), the query and body from ``values``; ``extra_fields`` are parameters the document
    does not declare (GeoReport's form fields), sent as the body's form or the query."""
    path = _PARAMETER.sub(lambda m: quote(path_values[m.group(1)], safe=""), operation.path)
    params: dict[str, Any] = {}
    for parameter in operation.parameters:
        if parameter.get("in") != "query":
            continue
        name, schema = parameter["name"], parameter.get("schema", {})
        if values.naming(name) is not None or parameter.get("required"):
            params[name] = values.value(schema, name)
    body: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    if operation.body_type == JSON and operation.body_schema is not None:
        body = values.value(operation.body_schema)
        if operation.method == "patch" and isinstance(body, dict):
            body = values.with_one_correction(operation.body_schema, body)
    elif operation.body_type == MULTIPART:
        files = {"file": ("权限矩阵.csv", "姓名\n".encode(), "text/csv")}
    elif operation.body_type == FORM:
        data = {k: str(v) for k, v in extra_fields.items()}
    if operation.body_type != FORM:
        params.update(extra_fields)
    return PlannedRequest(
        method=operation.method.upper(),
        url=f"{base_url}{path}",
        params=params,
        json=body,
        data=data,
        files=files,
    )
