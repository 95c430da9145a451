"""The tenant isolation matrix, generated from the running gateway's /openapi.json.

Every operation the document lists (but the public health checks) is called with real records
of the victim community Hushan in its path, query and body — registered through the REST API
by Hushan's own staff first, so that another caller's 404 means "not yours", never "no such
id" — by:

- no token, an expired token, a forged token (an outsider's token rewritten to claim the
  victim's role) and an unsigned one (``alg: none``) → 401 problem;
- another tenant: staff of the sibling community Xiangyuan, staff of Shibei in another street,
  that street's admin → 403/404 problem (on tenantless routes that answer anyone — ``/me``,
  ``/inbox`` — their own answer, without the victim's data);
- every role of the victim community the operation does not list in its ``x-shequ-roles``
  (and the staff without ``pii-reader`` where that is also required) → 403/404 problem;
- the street scope reversed: Hushan's staff on their street's path, Shushan's admin on the
  district's → 403/404 problem;
- Xiangyuan's staff in their own community's path, naming the victim's ids (path, filters,
  body) → refused, or, for a search, an answer without them;
- the roles the operation does list, on its reads → admitted (the declaration is honest), and
  a resident or grid worker never sees a case that is not theirs.

No answer is ever a 5xx, every refusal is problem+json, and no answer to anyone but the
victim's own people contains the victim's ids or names (unless the caller sent them). After the
matrix every victim record reads as before: no refused write changed anything. An operation
that declares no roles, or names a record the matrix does not know, fails the test by name.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest

from census.identity.codes import credit_check_character, id_check_character
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of, unsigned, with_tampered_claims
from shequ_infra.keycloak import REALM, KeycloakServer
from shequ_infra.openapi_requests import (
    Operation,
    PlannedRequest,
    SchemaValues,
    operations_of,
    planned_request,
)
from shequ_infra.platform import RunningPlatform

if TYPE_CHECKING:
    from tests.security.conftest import DemoTokens

pytestmark = pytest.mark.platform  # a session of its own: see the Makefile

# ---- the victim: Hushan and real records of every kind a route names ----

HUSHAN: Final = "xiaoshan.shushan.hushan"
HUSHAN_NAME: Final = "湖山社区"
SHUSHAN: Final = "xiaoshan.shushan"
XIAOSHAN: Final = "xiaoshan"
# A class of the platform catalogue every community has: reports in the matrix name it, so
# that the place they give (the victim's building) is the only thing that can refuse them.
SHARED_CATEGORY: Final = "0103"
STAFF: Final = "hushan-staff"
DEMO_PASSWORD: Final = "shequ-demo"
PASSWORD_OF_NEW_MEMBER: Final = "matrix-Passw0rd-2026"
INBOX_WAIT_S: Final = 90.0


@dataclass(frozen=True)
class Marker:
    """A string of the victim's that another tenant's answer must never contain."""

    value: str
    what: str


@dataclass
class Api:
    """The gateway's REST API, called as one demo user or another."""

    url: str
    token_of: Callable[[str], str]

    def call(
        self,
        method: str,
        path: str,
        user: str,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {**(headers or {}), "Authorization": f"Bearer {self.token_of(user)}"}
        return httpx.request(
            method, f"{self.url}{path}", headers=headers, timeout=REQUEST_TIMEOUT_S, **kwargs
        )

    def ok(self, method: str, path: str, user: str = STAFF, **kwargs: Any) -> dict[str, Any]:
        response = self.call(method, path, user, **kwargs)
        assert response.status_code in (200, 201), f"{method} {path}: {response.text}"
        body: dict[str, Any] = response.json()
        return body


@dataclass
class VictimCommunity:
    """Hushan's records by kind (``records["building"]`` is the building's JSON), the markers
    and the read-backs of what must stay unchanged."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    markers: list[Marker] = field(default_factory=list)
    # Kinds whose records only some of the community's own people may see (a case: its
    # reporter, its assignee and the staff), with their markers.
    private_markers: list[Marker] = field(default_factory=list)
    readbacks: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, record: dict[str, Any], *names: str, private: bool = False) -> None:
        self.records[kind] = record
        found = [Marker(str(record["id"]), f"{kind} id")]
        found += [Marker(name, f"{kind} name") for name in names]
        self.markers += found
        if private:
            self.private_markers += found

    def id_of(self, kind: str) -> str:
        return str(self.records[kind]["id"])

    def version_of(self, kind: str) -> int | None:
        version = self.records[kind].get("version")
        return int(version) if version is not None else None


def id_number(rng: random.Random) -> str:
    """A valid GB 11643 number of someone born in the 1950s, unique enough for one run."""
    birth = f"195{rng.randint(0, 9)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}"
    first17 = f"330109{birth}{rng.randint(100, 999)}"
    return first17 + id_check_character(first17)


def credit_code(rng: random.Random) -> str:
    """A valid GB 32100 code of an individual business registered in Xiaoshan."""
    first17 = f"92330109MA{''.join(rng.choices('0123456789ABCDEFGHJKLMNPQRTUWXY', k=7))}"
    return first17 + credit_check_character(first17)


def tenant_path(path: str, tenant: str = HUSHAN) -> str:
    return f"/api/v1/tenants/{tenant}{path}"


def free_category_code(api: Api) -> str:
    """A code of the community-matters class 06 (矛盾纠纷) nobody has used yet."""
    taken = {c["code"] for c in api.ok("GET", tenant_path("/case-categories"))["items"]}
    return next(f"06{n:02d}" for n in range(99, 0, -1) if f"06{n:02d}" not in taken)


def register_hushan_records(api: Api, webhook_base: str) -> VictimCommunity:
    """Every kind of record a route names, in Hushan, registered by its staff (members by
    their staff too, accounts of a role staff may grant). Names carry a tag of this run."""
    rng = random.Random()
    tag = uuid.uuid4().hex[:6]
    victim = VictimCommunity()
    victim.markers.append(Marker(HUSHAN, "tenant id"))
    victim.markers.append(Marker(HUSHAN_NAME, "tenant name"))

    def created(kind: str, path: str, body: dict[str, Any], *names: str) -> dict[str, Any]:
        record = api.ok("POST", tenant_path(path), json=body)
        victim.add(kind, record, *names)
        return record

    complex_name, building_number = f"矩阵苑{tag}", f"{tag}幢"
    complex_ = created(
        "complex", "/complexes", {"name": complex_name, "address": f"矩阵路{tag}号"}, complex_name
    )
    building = created(
        "building",
        "/buildings",
        {"complex_id": complex_["id"], "number": building_number, "floors": 6},
    )
    unit = created("unit", "/units", {"building_id": building["id"], "number": "1单元"})
    dwelling = created("dwelling", "/dwellings", {"unit_id": unit["id"], "room": "101"})
    household = created(
        "household", "/households", {"dwelling_id": dwelling["id"], "tenure": "owner"}
    )
    resident_name = f"矩阵{tag}"
    created(
        "resident",
        "/residents",
        {
            "household_id": household["id"],
            "name": resident_name,
            "id_number": id_number(rng),
            "phone": f"139{rng.randint(10_000_000, 99_999_999)}",
            "relation_to_head": "self",
            "residence_type": "registered",
            "tenure": "owner",
        },
        resident_name,
    )
    enterprise_name = f"矩阵商行{tag}"
    created(
        "enterprise",
        "/enterprises",
        {
            "name": enterprise_name,
            "credit_code": credit_code(rng),
            "type": "individual_business",
            "address": f"矩阵路{tag}号底商",
        },
        enterprise_name,
    )
    organization_name = f"矩阵业委会{tag}"
    created(
        "organization",
        "/organizations",
        {"kind": "owners_committee", "name": organization_name, "complex_ids": [complex_["id"]]},
        organization_name,
    )

    grid_name, micro_grid_name = f"矩阵网格{tag}", f"矩阵微网格{tag}"
    grid = created("grid", "/grids", {"name": grid_name}, grid_name)
    micro_grid = created(
        "micro_grid",
        "/micro-grids",
        {"grid_id": grid["id"], "name": micro_grid_name},
        micro_grid_name,
    )
    api.ok(
        "POST",
        tenant_path(f"/grids/{grid['id']}/buildings"),
        json={"micro_grid_id": micro_grid["id"], "building_ids": [building["id"]]},
    )
    member_name = f"矩阵网格员{tag}"
    created(
        "grid_member",
        f"/grids/{grid['id']}/members",
        {"role": "grid_worker", "name": member_name},
        member_name,
    )
    created("visit", "/visits", {"building_id": building["id"], "findings": f"矩阵走访记录{tag}"})
    victim.add(
        "plan", api.ok("POST", tenant_path("/grid-plans"), json={"grids": 2, "micro_grids": 3})
    )

    category_code, category_name = free_category_code(api), f"矩阵类别{tag}"
    category = api.ok(
        "PUT",
        tenant_path(f"/case-categories/{category_code}"),
        json={
            "expected_version": 0,
            "name": category_name,
            "acceptance_standard": "矩阵立案标准",
            "closing_standard": "矩阵结案标准",
            "deadline_amount": 3,
            "deadline_unit": "working_days",
            "responsible_level": "community",
        },
    )
    victim.records["category"] = {**category, "id": category_code}
    victim.markers.append(Marker(category_name, "case category name"))
    case_title = f"矩阵案件{tag}"
    # No place: the case waits for staff, so no grid worker is its assignee.
    case = api.ok(
        "POST",
        tenant_path("/cases"),
        json={"category_code": category_code, "title": case_title},
        headers={"Idempotency-Key": f"matrix-{tag}"},
    )
    victim.add("case", case, case_title, private=True)

    template_code, subject = f"matrix.t{tag}", f"矩阵通知{tag}"
    template = api.ok(
        "PUT",
        tenant_path(f"/notification-templates/{template_code}"),
        json={
            "expected_version": 0,
            "name": f"矩阵模板{tag}",
            "kind": "general",
            "subject": subject,
            "body": "{{ content }}",
            "variables": ["content"],
        },
    )
    victim.records["template"] = {**template, "id": template_code}
    victim.markers.append(Marker(subject, "notification subject"))
    notice = api.ok(
        "POST",
        tenant_path("/notices"),
        json={
            "template_code": template_code,
            "variables": {"content": f"矩阵正文{tag}"},
            "audience": {"roles": ["community-staff"]},
            "channels": ["inbox"],
            "urgent": True,
        },
        headers={"Idempotency-Key": f"matrix-{tag}"},
    )
    victim.add("notice", notice)
    robot_name = f"矩阵群{tag}"
    created(
        "robot",
        "/notification-robots",
        {
            "name": robot_name,
            "building_id": building["id"],
            "webhook_url": f"{webhook_base}matrix-{tag}",
        },
        robot_name,
    )
    resident_id = victim.id_of("resident")
    contact = api.ok(
        "PUT",
        tenant_path(f"/notification-contacts/{resident_id}"),
        json={"email": f"matrix-{tag}@example.org", "expected_version": 0},
    )
    victim.records["contact"] = {**contact, "id": resident_id}

    username = f"matrix-{tag}"
    account = api.ok(
        "POST",
        tenant_path("/members"),
        json={
            "username": username,
            "display_name": f"矩阵居民{tag}",
            "role": "resident",
            "initial_password": PASSWORD_OF_NEW_MEMBER,
        },
    )
    victim.add("account", account, username)

    victim.add("message", wait_for_inbox_message(api, subject))
    victim.readbacks = read_back(api, victim)
    return victim


def wait_for_inbox_message(api: Api, subject: str) -> dict[str, Any]:
    """The notice's message in Hushan staff's shared inbox, once notify has delivered it."""
    deadline = time.monotonic() + INBOX_WAIT_S
    while time.monotonic() < deadline:
        items = api.ok("GET", "/api/v1/inbox", params={"limit": 200})["items"]
        found = next((m for m in items if m.get("subject") == subject), None)
        if found is not None:
            return dict(found)
        time.sleep(0.5)
    raise AssertionError(
        f"the victim notice never reached hushan-staff's inbox in {INBOX_WAIT_S} s"
    )


def readback_paths(victim: VictimCommunity) -> Iterator[tuple[str, str]]:
    """(what, REST path) of each record whose state a refused write must not change."""
    for kind, collection in (
        ("building", "buildings"),
        ("resident", "residents"),
        ("enterprise", "enterprises"),
        ("grid", "grids"),
        ("case", "cases"),
        ("notice", "notices"),
        ("plan", "grid-plans"),
        ("category", "case-categories"),
        ("template", "notification-templates"),
        ("contact", "notification-contacts"),
    ):
        yield kind, tenant_path(f"/{collection}/{victim.id_of(kind)}")
    grid = victim.id_of("grid")
    yield "households", tenant_path(f"/households?building_id={victim.id_of('building')}")
    yield "micro-grids", tenant_path(f"/micro-grids?grid_id={grid}")
    yield "grid members", tenant_path(f"/grids/{grid}/members")
    yield "coverage", tenant_path(f"/grids/{grid}/buildings")
    yield "robots", tenant_path("/notification-robots")
    yield "members", tenant_path("/members")
    yield "case calendar", tenant_path("/case-calendar")
    yield "notification settings", tenant_path("/notification-settings")


# Fields that change by themselves as time passes (deadlines count down, deliveries go out).
_VOLATILE: Final = frozenset({"seconds_to_deadline", "overdue", "counts", "unread"})


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in sorted(value.items()) if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def read_back(api: Api, victim: VictimCommunity) -> dict[str, str]:
    """What each record reads as now, to Hushan's staff (the inbox message: its read state)."""
    found = {what: repr(_stable(api.ok("GET", path))) for what, path in readback_paths(victim)}
    message = victim.id_of("message")
    items = api.ok("GET", "/api/v1/inbox", params={"limit": 200})["items"]
    found["inbox message"] = repr(_stable([m for m in items if m["id"] == message]))
    return found


# ---- the matrix ----


# Answer anyone, without a token: nothing a tenant owns is behind them.
PUBLIC_OPERATIONS: Final = {
    "healthz": "liveness of the process",
    "readyz": "readiness: whether Keycloak, the database and Kafka answer",
}
XIANGYUAN: Final = "xiaoshan.shushan.xiangyuan"
# The victim community's demo users, one per role; hushan-pii is staff cleared for PII.
USER_OF_ROLE: Final = {
    "community-staff": "hushan-staff",
    "street-admin": "shushan-admin",
    "platform-admin": "platform",
    "grid-worker": "hushan-grid",
    "resident": "hushan-resident",
}
PII_READER_USER: Final = "hushan-pii"
# Callers with no grant on the victim community (user: who they are).
OUTSIDERS: Final = {
    "xiangyuan-staff": "staff of the sibling community Xiangyuan",
    "shibei-staff": "staff of Shibei, a community of another street",
    "beigan-admin": "admin of another street (Beigan)",
}
# A caller on the tenant above their own grant: a community's staff on its street, a street's
# admin on the district.
ABOVE_THEIR_GRANT: Final = (("hushan-staff", SHUSHAN), ("shushan-admin", XIAOSHAN))
# Of the victim's own people, who sees only the cases they reported or handle.
NOT_THE_CASE_OWNERS: Final = ("hushan-resident", "hushan-grid")

# Which victim record a path parameter names, by the collection before it.
PATH_RECORDS: Final = {
    ("buildings", "building_id"): "building",
    ("households", "household_id"): "household",
    ("residents", "resident_id"): "resident",
    ("enterprises", "enterprise_id"): "enterprise",
    ("grids", "grid_id"): "grid",
    ("micro-grids", "micro_grid_id"): "micro_grid",
    ("grid-plans", "plan_id"): "plan",
    ("cases", "case_id"): "case",
    ("case-categories", "code"): "category",
    ("notification-templates", "code"): "template",
    ("notices", "notice_id"): "notice",
    ("notification-robots", "robot_id"): "robot",
    ("notification-contacts", "resident_id"): "resident",
    ("services", "service_code"): "category",
    ("requests", "service_request_id"): "case",
}
# Path parameters that name no record: GeoReport's format, an ops route's service and
# projection.
PATH_WORDS: Final = {"fmt": "json", "service": "grid", "name": "census"}
# Which victim record a query parameter or body field names, by name (``…_ids``: a list).
FIELD_RECORDS: Final = {
    "complex_id": "complex",
    "building_id": "building",
    "unit_id": "unit",
    "dwelling_id": "dwelling",
    "household_id": "household",
    "to_household_id": "household",
    "head_resident_id": "resident",
    "resident_id": "resident",
    "grid_id": "grid",
    "micro_grid_id": "micro_grid",
    "member_id": "grid_member",
    "assignee_member_id": "grid_member",
    "case_id": "case",
    "into_case_id": "case",
    "message_id": "message",
    "account_subject": "account",
    "category": "category",
}
TENANT_FIELDS: Final = frozenset({"tenant", "to_tenant_id"})
# Codes are names inside a tenant (another community may have its own 0699), not ids.
TENANT_LOCAL_KINDS: Final = frozenset({"category", "template"})
# GeoReport's fields are not in the document (a form of strings, a free query).
UNDECLARED_FIELDS: Final = {
    "createOpen311Request": {"service_code": SHARED_CATEGORY, "address_id": "building"},
    "listOpen311Requests": {"service_request_id": "case"},
}
# Which of a route's admitted roles the matrix signs expired and forged tokens as.
PREFERRED_ROLES: Final = (
    "community-staff",
    "street-admin",
    "platform-admin",
    "grid-worker",
    "resident",
)
SHORT_LIVED_CLIENT: Final = "test-short-lived-tokens"
GATEWAY_LEEWAY_S: Final = 30.0  # shequ_kit.tokens.TokenVerifier's default
REQUEST_TIMEOUT_S: Final = 120.0
ADMITTED: Final = frozenset({200})
REFUSED: Final = frozenset({403, 404})
UNAUTHENTICATED: Final = frozenset({401})


def short_lived_tokens(
    keycloak: KeycloakServer, users: Sequence[str], password: str
) -> dict[str, str]:
    """Real tokens of these users that live one second, from a client made for the purpose
    with the realm's groups and audience mappers (copied from ``shequ-cli``)."""
    admin = {"Authorization": f"Bearer {keycloak.master_admin_token()}"}
    clients = f"{keycloak.url}/admin/realms/{REALM}/clients"
    cli = httpx.get(clients, params={"clientId": "shequ-cli"}, headers=admin, timeout=30)
    cli.raise_for_status()
    client = {
        "clientId": SHORT_LIVED_CLIENT,
        "enabled": True,
        "publicClient": True,
        "protocol": "openid-connect",
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": True,
        "attributes": {"access.token.lifespan": "1"},
        "protocolMappers": [
            {k: v for k, v in m.items() if k != "id"} for m in cli.json()[0]["protocolMappers"]
        ],
    }
    created = httpx.post(clients, json=client, headers=admin, timeout=30)
    if created.status_code != 409:  # 409: made by an earlier module on this Keycloak
        created.raise_for_status()
    return {
        user: str(keycloak.password_grant(user, password, SHORT_LIVED_CLIENT)["access_token"])
        for user in users
    }


def expired(tokens: dict[str, str]) -> dict[str, str]:
    """The tokens, once the gateway would refuse them as expired (past its leeway)."""
    expires = max(float(claims_of(token)["exp"]) for token in tokens.values())
    while time.time() <= expires + GATEWAY_LEEWAY_S + 1:
        time.sleep(0.5)
    return tokens


@dataclass(frozen=True)
class Probe:
    """One call of the matrix: who, in which tenant's path, and what may come back.

    A 2xx is allowed only where ``expected`` lists it. ``must_not_show`` are the victim's
    strings the answer must not contain (unless the request itself sent them). A probe
    ``like_unknown_ids`` expects whatever the same request gets with ids that exist nowhere:
    the victim's ids must tell the caller nothing, not even that they exist.
    """

    kind: str
    who: str
    headers: dict[str, str]
    tenant: str
    expected: frozenset[int]
    must_not_show: Sequence[Marker]
    like_unknown_ids: bool = False


@dataclass
class Matrix:
    """The calls made and what they found."""

    operations: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [
            f"isolation matrix: {sum(self.requests.values())} requests over "
            f"{self.operations} operations"
        ]
        for kind, count in self.requests.items():
            statuses = {s: n for (k, s), n in sorted(self.statuses.items()) if k == kind}
            lines.append(f"  {kind}: {count} requests, answers by status {statuses}")
        return "\n".join(lines)


@dataclass
class MatrixRun:
    """Everything the matrix needs: the gateway, the victim, the callers' tokens."""

    client: httpx.Client
    gateway_url: str
    document: dict[str, Any]
    victim: VictimCommunity
    tokens: DemoTokens
    expired: dict[str, str]
    matrix: Matrix = field(default_factory=Matrix)

    # ---- the values a request names ----

    def path_record(self, operation: Operation, collection: str, name: str) -> str | None:
        if (collection, name) == ("members", "member_id"):
            # A grid's member, or a tenant's account (/tenants/{tenant}/members/{member_id}).
            return "grid_member" if "/grids/" in operation.path else "account"
        return PATH_RECORDS.get((collection, name))

    def path_records(self, operation: Operation) -> list[str]:
        found = [self.path_record(operation, c, n) for c, n in operation.path_parameters()]
        return [kind for kind in found if kind is not None]

    def path_values(self, operation: Operation, tenant: str) -> dict[str, str] | None:
        values = {"tenant": tenant}
        for collection, name in operation.path_parameters():
            kind = self.path_record(operation, collection, name)
            if kind is not None:
                values[name] = self.victim.id_of(kind)
            elif name in PATH_WORDS:
                values[name] = PATH_WORDS[name]
            else:
                self.matrix.violations.append(
                    f"{operation}: the matrix does not know which victim record {{{name}}} "
                    "names; add it to PATH_RECORDS or PATH_WORDS"
                )
                return None
        return values

    def schema_values(self, operation: Operation) -> SchemaValues:
        named = next(iter(self.path_records(operation)), None)
        version = self.victim.version_of(named) if named else None

        def naming(name: str) -> Any:
            if name in TENANT_FIELDS:
                return HUSHAN
            if name == "expected_version":
                return version if version is not None else 1
            if name == "category_code":
                return SHARED_CATEGORY
            if name == "format":
                return "csv"  # downloads as text the leak check can read (xlsx is zipped)
            if name in FIELD_RECORDS:
                return self.victim.id_of(FIELD_RECORDS[name])
            if name.endswith("_ids") and name[:-1] in FIELD_RECORDS:
                return [self.victim.id_of(FIELD_RECORDS[name[:-1]])]
            return None

        return SchemaValues(components=self.document["components"]["schemas"], naming=naming)

    def request(self, operation: Operation, tenant: str) -> PlannedRequest | None:
        path_values = self.path_values(operation, tenant)
        if path_values is None:
            return None
        extra = {
            name: value if value == SHARED_CATEGORY else self.victim.id_of(value)
            for name, value in UNDECLARED_FIELDS.get(operation.operation_id, {}).items()
        }
        return planned_request(
            operation,
            base_url=self.gateway_url,
            path_values=path_values,
            values=self.schema_values(operation),
            extra_fields=extra,
        )

    def victim_ids_in(self, request: PlannedRequest) -> list[str]:
        """The ids of the victim's records the request names (codes are not ids)."""
        sent = request.text()
        return [
            self.victim.id_of(kind)
            for kind in self.victim.records
            if kind not in TENANT_LOCAL_KINDS and self.victim.id_of(kind) in sent
        ]

    # ---- who calls ----

    def as_user(self, user: str) -> dict[str, str]:
        return headers_with(self.tokens(user))

    def admitted_user(self, operation: Operation) -> str:
        """Who the operation admits on the victim community (for expired and forged tokens)."""
        if operation.also_requires:
            return PII_READER_USER
        roles = operation.roles or {"community-staff"}
        return USER_OF_ROLE[next(r for r in PREFERRED_ROLES if r in roles)]

    def probes(self, operation: Operation) -> Iterator[Probe]:
        markers = self.victim.markers
        admitted = self.admitted_user(operation)
        # An outsider's own token, rewritten to claim the victim's role (the signature stays
        # the outsider's), and the admitted user's token with its signature dropped.
        forged = with_tampered_claims(
            self.tokens("xiangyuan-staff"), groups=claims_of(self.tokens(admitted))["groups"]
        )
        for kind, token in (
            ("no token", None),
            ("expired token", self.expired[admitted]),
            ("forged token", forged),
            ("unsigned token", unsigned(self.tokens(admitted))),
        ):
            yield Probe(kind, admitted, headers_with(token), HUSHAN, UNAUTHENTICATED, markers)

        # /me, /tenants, /inbox answer any caller, with their own data.
        answers_anyone = operation.roles is not None and operation.roles >= set(USER_OF_ROLE)
        outsiders_get = REFUSED
        if answers_anyone and not operation.has_tenant_path:
            outsiders_get = frozenset({200, *REFUSED})
        for user, who in OUTSIDERS.items():
            yield Probe("another tenant", who, self.as_user(user), HUSHAN, outsiders_get, markers)

        if operation.roles is not None:
            for role, user in USER_OF_ROLE.items():
                if role not in operation.roles:
                    yield Probe(
                        "role not admitted", user, self.as_user(user), HUSHAN, REFUSED, markers
                    )
        if "pii-reader" in operation.also_requires:
            staff = USER_OF_ROLE["community-staff"]
            yield Probe(
                "role not admitted",
                f"{staff} (no pii-reader)",
                self.as_user(staff),
                HUSHAN,
                REFUSED,
                markers,
            )

        if not operation.has_tenant_path:
            return
        for user, tenant in ABOVE_THEIR_GRANT:
            yield Probe(
                "above their grant",
                f"{user} on {tenant}",
                self.as_user(user),
                tenant,
                REFUSED,
                markers,
            )

        yield Probe(
            "victim's ids in own tenant",
            "xiangyuan-staff",
            self.as_user("xiangyuan-staff"),
            XIANGYUAN,
            frozenset(),
            markers,
            like_unknown_ids=True,
        )

        names_the_case = "case" in self.path_records(operation)
        if operation.reads:
            for role in sorted((operation.roles or frozenset()) & set(USER_OF_ROLE)):
                user = PII_READER_USER if operation.also_requires else USER_OF_ROLE[role]
                if user in NOT_THE_CASE_OWNERS:
                    expected = frozenset({404}) if names_the_case else ADMITTED
                    yield Probe(
                        "admitted, not the case's owner",
                        user,
                        self.as_user(user),
                        HUSHAN,
                        expected,
                        self.victim.private_markers,
                    )
                else:
                    yield Probe("admitted", user, self.as_user(user), HUSHAN, ADMITTED, ())
        elif names_the_case:
            for user in NOT_THE_CASE_OWNERS:
                yield Probe(
                    "admitted, not the case's owner",
                    user,
                    self.as_user(user),
                    HUSHAN,
                    REFUSED,
                    self.victim.private_markers,
                )

    # ---- calling and judging ----

    def run(self, operation: Operation) -> None:
        self.matrix.operations += 1
        if operation.roles is None:
            self.matrix.violations.append(
                f"{operation} declares no x-shequ-roles: declare who may call it with "
                "openapi_extra=admits(...) (gateway/src/gateway/access.py)"
            )
        requests: dict[str, PlannedRequest | None] = {}
        for probe in self.probes(operation):
            if probe.tenant not in requests:
                requests[probe.tenant] = self.request(operation, probe.tenant)
            request = requests[probe.tenant]
            if request is None:
                return
            if probe.like_unknown_ids and not self.victim_ids_in(request):
                continue  # names nothing of the victim's: the caller's own business
            self.call(operation, probe, request)

    def send(self, probe: Probe, request: PlannedRequest) -> httpx.Response:
        response = self.client.request(
            request.method,
            request.url,
            params=request.params,
            json=request.json,
            data=request.data,
            files=request.files,
            headers=probe.headers,
        )
        self.matrix.requests[probe.kind] += 1
        self.matrix.statuses[(probe.kind, response.status_code)] += 1
        return response

    def call(self, operation: Operation, probe: Probe, request: PlannedRequest) -> None:
        response = self.send(probe, request)
        problems = judged(probe, request, response)
        if probe.like_unknown_ids:
            unknown = {victim_id: str(uuid.uuid4()) for victim_id in self.victim_ids_in(request)}
            twin = self.send(probe, request.with_replaced(unknown))
            back = {new: old for old, new in unknown.items()}
            if answer_seen(response) != answer_seen(twin, back):
                problems.append(
                    f"the victim's ids get another answer than ids that exist nowhere "
                    f"({twin.status_code}: {twin.text[:200]})"
                )
        for problem in problems:
            self.matrix.violations.append(
                f"{operation} as {probe.who} ({probe.kind}) → {response.status_code}: {problem}"
            )


def headers_with(token: str | None) -> dict[str, str]:
    # GeoReport routes answer problem+json when asked; the REST routes always do.
    accept = {"Accept": "application/problem+json, application/json"}
    return {**accept, "Authorization": f"Bearer {token}"} if token else accept


def answer_text(response: httpx.Response) -> str:
    """The answer as text, JSON decoded (so escaped Chinese is compared as Chinese)."""
    try:
        return json.dumps(response.json(), ensure_ascii=False)
    except ValueError:
        return response.text


def answer_seen(response: httpx.Response, back: dict[str, str] | None = None) -> tuple[Any, ...]:
    """What an answer tells its caller, with ``back``'s ids swapped: the status, a refusal's
    code and words, a read's whole text (a write's new record differs anyway, and so does a
    zipped spreadsheet: its media type)."""
    text = answer_text(response)
    for new, old in (back or {}).items():
        text = text.replace(new, old)
    if response.status_code >= 400:
        problem = json.loads(text) if text.startswith("{") else {}
        return (response.status_code, problem.get("code"), problem.get("detail_en"))
    media = response.headers.get("content-type", "")
    if response.request.method == "GET" and ("json" in media or media.startswith("text/")):
        return (response.status_code, text)
    return (response.status_code, media.partition(";")[0])


def judged(probe: Probe, request: PlannedRequest, response: httpx.Response) -> list[str]:
    """What is wrong with this answer to this probe (nothing: an empty list)."""
    status = response.status_code
    problems = []
    if status >= 500:
        problems.append(f"a server error: {response.text[:300]}")
    elif probe.like_unknown_ids:
        pass  # judged against the answer to unknown ids
    elif status not in probe.expected and not (status < 300 and 200 in probe.expected):
        problems.append(f"expected one of {sorted(probe.expected)}: {response.text[:300]}")
    if 400 <= status < 500:
        media = response.headers.get("content-type", "")
        if not media.startswith("application/problem+json"):
            problems.append(f"a refusal that is not problem+json ({media})")
        else:
            body = response.json()
            if body.get("status") != status or not body.get("detail") or not body.get("detail_en"):
                problems.append(f"an incomplete problem: {response.text[:300]}")
        if status == 401 and "/api/" in request.url and "www-authenticate" not in response.headers:
            problems.append("a 401 without WWW-Authenticate")
    text, sent = answer_text(response), request.text()
    leaked = [m for m in probe.must_not_show if m.value in text and m.value not in sent]
    if leaked:
        problems.append(
            "the answer shows the victim's " + ", ".join(f"{m.what} {m.value!r}" for m in leaked)
        )
    return problems


@pytest.fixture(scope="module")
def matrix_run(
    infra: LocalInfrastructure, platform: RunningPlatform, tokens: DemoTokens
) -> Iterator[MatrixRun]:
    users = [*USER_OF_ROLE.values(), PII_READER_USER]
    # Tokens that live a second are past the gateway's 30 s leeway half a minute later; asked
    # for first, the wait overlaps registering the victim's records.
    short_lived = short_lived_tokens(infra.keycloak, users, DEMO_PASSWORD)
    victim = register_hushan_records(Api(platform.gateway_url, tokens), platform.sinks.webhook_base)
    expired_tokens = expired(short_lived)
    document = httpx.get(f"{platform.gateway_url}/openapi.json", timeout=30).json()
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        yield MatrixRun(client, platform.gateway_url, document, victim, tokens, expired_tokens)


def test_every_operation_refuses_every_caller_outside_its_declared_roles(
    matrix_run: MatrixRun, tokens: DemoTokens, capsys: pytest.CaptureFixture[str]
) -> None:
    operations = operations_of(matrix_run.document)
    assert {o.operation_id for o in operations} >= PUBLIC_OPERATIONS.keys()
    for operation in operations:
        if operation.operation_id not in PUBLIC_OPERATIONS:
            matrix_run.run(operation)
    matrix = matrix_run.matrix
    with capsys.disabled():  # the figures show in every run, not only a failing one
        print(f"\n{matrix.report()}", flush=True)
    assert matrix.operations >= 100, f"only {matrix.operations} operations in the document"
    assert not matrix.violations, "\n".join(
        [f"{len(matrix.violations)} violations:", *matrix.violations[:80]]
    )
    now = read_back(Api(matrix_run.gateway_url, tokens), matrix_run.victim)
    changed = [
        f"the victim's {what} changed: {matrix_run.victim.readbacks[what]} → {reads}"
        for what, reads in now.items()
        if matrix_run.victim.readbacks[what] != reads
    ]
    assert not changed, "\n".join(changed)
