"""The Open311 GeoReport v2 facade of the cases service: /open311/v2/{tenant}/discovery,
services, services/{service_code}, requests (GET and POST) and requests/{service_request_id},
each as ``.json`` or ``.xml``. The tenant is the GeoReport jurisdiction.

Each route is one or two calls of the cases gRPC service made as the caller, exactly like the
REST routes: the token is verified here (from ``Authorization: Bearer`` or, for clients that
can only send the specification's ``api_key``, from that parameter), a caller with no grant on
the tenant is refused before any call, and the cases service re-checks everything — a
resident sees and reports only their own requests. Errors come back in the specification's
shape (``refusals``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import grpc
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.access import EVERY_ROLE, admit, admits
from gateway.limits import admitted_caller
from gateway.open311.documents import (
    JSON_MEDIA_TYPE,
    XML_MEDIA_TYPE,
    Document,
    Representation,
    render,
)
from gateway.open311.models import (
    MAX_REQUESTS,
    Changesets,
    RequestSearch,
    discovery,
    is_request_id,
    is_service_code,
    latest_note,
    newest_first,
    parse_new_request,
    parse_search,
    receipt_of,
    report_request,
    request_of,
    service_definition,
    service_of,
    timestamp_of,
)
from gateway.open311.refusals import refusal_of, refusal_response
from gateway.problem_responses import COMPONENTS
from gateway.problems import MEDIA_TYPE
from gateway.security import parse_tenant_id
from gateway.service_calls import caller_options
from gateway.tenants.service import get_node
from shequ.cases.v1 import cases_pb2 as pb
from shequ.cases.v1 import cases_pb2_grpc
from shequ.common.v1 import paging_pb2
from shequ_kit.errors import DomainError, FieldViolation, invalid_input, not_found, unauthenticated
from shequ_kit.paging import MAX_PAGE_SIZE
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, TokenVerifier, bearer_token

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A service_code list is answered one search per code.
MAX_SERVICE_CODES = 20
CHANGESETS = Changesets()
FORMATS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "GeoReport v2 文档 document (JSON or XML by the path's suffix)",
        "content": {"application/json": {}, "text/xml": {}},
    }
}


# Every refusal: the GeoReport error list (JSON or XML by the path's suffix), or a problem when
# the client asks for application/problem+json. GeoReport's invalid input is 400, not 422.
_GEOREPORT_ERRORS: Final = {
    "description": "GeoReport v2 错误列表 error list (JSON or XML), or a problem if asked for",
    "content": {
        JSON_MEDIA_TYPE: {
            "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "integer"},
                        "description": {"type": "string"},
                    },
                    "required": ["code", "description"],
                },
            }
        },
        XML_MEDIA_TYPE: {},
        MEDIA_TYPE: {"schema": {"$ref": COMPONENTS.format(model="Problem")}},
    },
}
ERRORS_DOC: Final[dict[int | str, dict[str, Any]]] = {
    "4XX": _GEOREPORT_ERRORS,
    "5XX": _GEOREPORT_ERRORS,
}


class Open311Route(APIRoute):
    """Answers every refusal of a GeoReport route — token, tenant, parameters, the service's —
    in the GeoReport error shape instead of the gateway's problem+json (unless asked for)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except (
                DomainError,
                grpc.RpcError,
                RequestValidationError,
                StarletteHTTPException,
            ) as error:
                return refusal_response(request, refusal_of(error))

        return answer


router = APIRouter(
    prefix="/open311/v2/{tenant}",
    tags=["open311 GeoReport v2"],
    route_class=Open311Route,
    responses=ERRORS_DOC,
)


@dataclass(frozen=True)
class PostedForm:
    """The text fields of a form-encoded (or multipart) POST in order, and the names of any
    file parts (GeoReport sends none; they are refused once the caller is known)."""

    fields: list[tuple[str, str]]
    files: list[str]


async def posted_form(request: Request) -> PostedForm | None:
    """The POSTed form; None for any other request or body."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if request.method != "POST" or content_type not in FORM_TYPES:
        return None
    async with request.form() as form:
        items = form.multi_items()
        return PostedForm(
            fields=[(k, v) for k, v in items if isinstance(v, str)],
            files=[k for k, v in items if not isinstance(v, str)],
        )


FormFields = Annotated[PostedForm | None, Depends(posted_form)]


@dataclass(frozen=True)
class Open311Call:
    """The verified caller, the tenant (jurisdiction), the representation the path asks for,
    and the cases stub with what each call carries."""

    tenant: TenantId
    principal: Principal
    representation: Representation
    stub: cases_pb2_grpc.CasesServiceStub
    options: Mapping[str, Any]

    def respond(self, document: Document, **extra: Any) -> Response:
        return render(document, self.representation, **extra)


def _parameters(request: Request, form: PostedForm | None, name: str) -> list[str]:
    """A parameter's values from the query string and the posted form."""
    posted = form.fields if form else []
    return [v for k, v in request.query_params.multi_items() if k == name] + [
        v for k, v in posted if k == name
    ]


def _verified_caller(request: Request, form: PostedForm | None) -> Principal:
    """The token of ``Authorization: Bearer``, or else of the ``api_key`` parameter (query or
    form), within the rate limits. Never optional: no token is a 401, like every other route."""
    verifier: TokenVerifier = request.app.state.core.verifier

    def verify() -> Principal:
        header = request.headers.get("authorization")
        if header:
            return verifier.verify(bearer_token(header))
        keys = [k.strip() for k in _parameters(request, form, "api_key") if k.strip()]
        if not keys:
            raise unauthenticated("no bearer token and no api_key")
        return verifier.verify(keys[0])

    return admitted_caller(request, verify)


FormatSuffix = Annotated[str, Path(description="json 或 xml：返回的格式 The representation")]
Jurisdiction = Annotated[str, Path(description="社区（GeoReport 的 jurisdiction）The tenant")]


def open311_call(
    request: Request, tenant: Jurisdiction, fmt: FormatSuffix, form: FormFields
) -> Open311Call:
    """In the order a client can act on: the format (404), the token (401), the tenant and the
    caller's grant on it (403), then jurisdiction_id, which must name the path's tenant (400)."""
    representation = Representation.of_suffix(fmt)
    principal = _verified_caller(request, form)
    tenant_id = parse_tenant_id(tenant, "tenant")
    admit(request, principal, tenant_id)
    options = caller_options(request, principal, tenant_id)
    for given in _parameters(request, form, "jurisdiction_id"):
        if given.strip() != tenant_id.value:
            raise invalid_input(
                "open311.jurisdiction_mismatch",
                f"jurisdiction_id 应为 {tenant_id}（与地址中的社区一致）",
                f"jurisdiction_id must be {tenant_id}, the tenant of this endpoint",
                FieldViolation("jurisdiction_id", f"must be {tenant_id}"),
            )
    return Open311Call(
        tenant=tenant_id,
        principal=principal,
        representation=representation,
        stub=request.app.state.core.cases,
        options=options,
    )


Call = Annotated[Open311Call, Depends(open311_call)]


# ---- discovery and services ----


@router.get(
    "/discovery.{fmt}",
    operation_id="getOpen311Discovery",
    openapi_extra=admits(*EVERY_ROLE),
    responses=FORMATS_DOC,
)
def get_discovery(request: Request, call: Call) -> Response:
    """服务发现：本社区的 GeoReport v2 端点、格式与获取令牌的方式。Service discovery."""
    reply: pb.ListCategoriesResponse = call.stub.ListCategories(
        pb.ListCategoriesRequest(), **call.options
    )
    with request.app.state.core.sessions() as session:
        node = get_node(session, call.principal, call.tenant)
        name_zh, name_en = node.name_zh, node.name_en
    issuer = request.app.state.core.settings.issuer
    document = discovery(
        url=f"{str(request.base_url).rstrip('/')}/open311/v2/{call.tenant}",
        changeset=CHANGESETS.changeset(call.tenant.value, reply.categories, datetime.now(UTC)),
        contact=f"{name_zh}居民委员会，或经本平台的“我的社区”联系工作人员。{name_en} community "
        "office, or its staff through this platform.",
        key_service=f"api_key 即本平台的访问令牌（由 {issuer} 签发的 OIDC access token），请放在 "
        "Authorization: Bearer 头中发送，无法设置请求头时可作为 api_key 参数。The api_key is an "
        f"access token issued by {issuer}; send it as Authorization: Bearer, or as the api_key "
        "parameter where a client cannot set headers.",
    )
    return call.respond(Document("discovery", document))


@router.get(
    "/services.{fmt}",
    operation_id="listOpen311Services",
    openapi_extra=admits(*EVERY_ROLE),
    responses=FORMATS_DOC,
)
def list_services(call: Call) -> Response:
    """服务类型：本社区在用的事件类别。The tenant's case categories in force, as services."""
    reply: pb.ListCategoriesResponse = call.stub.ListCategories(
        pb.ListCategoriesRequest(), **call.options
    )
    return call.respond(Document("services", [service_of(c) for c in reply.categories]))


@router.get(
    "/services/{service_code}.{fmt}",
    operation_id="getOpen311ServiceDefinition",
    openapi_extra=admits(*EVERY_ROLE),
    responses=FORMATS_DOC,
)
def get_service_definition(call: Call, service_code: str) -> Response:
    """服务定义：上报时可填写的属性。A service's definition: the attributes it takes."""
    category = _category_in_force(call, service_code)
    if category is None:
        raise not_found(
            "open311.service_not_found",
            f"没有可用的服务类型 {service_code[:20]}",
            f"no service {service_code[:20]!r} in {call.tenant}",
        )
    return call.respond(Document("service_definition", service_definition(category)))


def _category_in_force(call: Open311Call, code: str) -> pb.Category | None:
    """The enabled category of this code, or None (disabled and unknown classes alike)."""
    if not is_service_code(code):
        return None
    try:
        reply: pb.GetCategoryResponse = call.stub.GetCategory(
            pb.GetCategoryRequest(code=code), **call.options
        )
    except grpc.RpcError as error:
        if isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise
    return reply.category if reply.category.enabled else None


# ---- service requests ----


@router.post(
    "/requests.{fmt}",
    operation_id="createOpen311Request",
    status_code=201,
    responses={201: FORMATS_DOC[200]},
    openapi_extra={
        **admits(*EVERY_ROLE),
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
                for media in FORM_TYPES
            },
        },
    },
)
def create_request(request: Request, call: Call, form: FormFields) -> Response:
    """上报：表单编码的 GeoReport 请求成为一件来源为 Open311 的案件；201，Location 指向它。
    Report a service request (form-encoded, as GeoReport clients post it): it becomes a case
    reported through Open311; 201 with its Location."""
    if form is None:
        raise StarletteHTTPException(
            415,
            "service requests are posted form-encoded: application/x-www-form-urlencoded "
            "or multipart/form-data",
        )
    if form.files:
        raise invalid_input(
            "open311.file_not_accepted",
            "不接受上传文件，请用 media_url 提供照片地址",
            "files are not accepted; send the photo's address as media_url",
            FieldViolation(form.files[0][:60], "a text field"),
        )
    new = parse_new_request(form.fields)
    category = _category_in_force(call, new.service_code)
    if category is None:
        raise invalid_input(
            "open311.service_code_unknown",
            f"没有可用的服务类型 {new.service_code[:20]}，请先查询 services",
            f"no service {new.service_code[:20]!r} here; see services",
            FieldViolation("service_code", "a service_code of services"),
        )
    reply: pb.ReportCaseResponse = call.stub.ReportCase(
        report_request(new, category, request.headers.get("idempotency-key", "").strip()),
        **call.options,
    )
    case_id = reply.case.id
    location = (
        f"{str(request.base_url).rstrip('/')}/open311/v2/{call.tenant}/requests/"
        f"{case_id}.{call.representation.value}"
    )
    return call.respond(
        Document("service_requests", [receipt_of(reply.case, call.principal.subject)]),
        status_code=201,
        headers={"Location": location},
    )


@router.get(
    "/requests.{fmt}",
    operation_id="listOpen311Requests",
    openapi_extra=admits(*EVERY_ROLE),
    responses=FORMATS_DOC,
)
def list_requests(request: Request, call: Call) -> Response:
    """查询事件：按 service_request_id（逗号分隔），或按 service_code、status、start_date、
    end_date（默认最近90天，至多1000件）；居民只看到自己上报的。Search service requests; a
    resident sees only their own."""
    search = parse_search(request.query_params.multi_items(), datetime.now(UTC))
    cases = _by_ids(call, search.ids) if search.ids else _search(call, search)
    return call.respond(Document("service_requests", [request_of(c) for c in cases]))


@router.get(
    "/requests/{service_request_id}.{fmt}",
    operation_id="getOpen311Request",
    openapi_extra=admits(*EVERY_ROLE),
    responses=FORMATS_DOC,
)
def get_request(call: Call, service_request_id: str) -> Response:
    """一件事件及其最新办理意见。One service request, with its latest handling note."""
    if not is_request_id(service_request_id):
        raise not_found(
            "cases.case_not_found",
            "没有找到该事件",
            f"no service request {service_request_id[:40]}",
        )
    reply: pb.GetCaseResponse = call.stub.GetCase(
        pb.GetCaseRequest(case_id=service_request_id), **call.options
    )
    timeline: pb.ListTimelineResponse = call.stub.ListTimeline(
        pb.ListTimelineRequest(case_id=service_request_id), **call.options
    )
    return call.respond(
        Document("service_requests", [request_of(reply.case, latest_note(timeline.entries))])
    )


def _by_ids(call: Open311Call, ids: Sequence[str]) -> list[pb.Case]:
    """The cases of these ids the caller may see; the others are left out, as a search would."""
    found = []
    for case_id in ids:
        if not is_request_id(case_id):
            continue
        try:
            reply: pb.GetCaseResponse = call.stub.GetCase(
                pb.GetCaseRequest(case_id=case_id), **call.options
            )
        except grpc.RpcError as error:
            if isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.NOT_FOUND:
                continue
            raise
        found.append(reply.case)
    return found


def _search(call: Open311Call, search: RequestSearch) -> list[pb.Case]:
    """Newest first, at most MAX_REQUESTS: per service code, the pages of ListCases."""
    if len(search.service_codes) > MAX_SERVICE_CODES:
        raise invalid_input(
            "open311.too_many_service_codes",
            f"一次最多按 {MAX_SERVICE_CODES} 个 service_code 查询",
            f"at most {MAX_SERVICE_CODES} service_code values per call",
            FieldViolation("service_code", f"at most {MAX_SERVICE_CODES}"),
        )
    found: list[pb.Case] = []
    for code in search.service_codes or ("",):
        found += _pages(call, search, code)
    return newest_first(found)[:MAX_REQUESTS]


def _pages(call: Open311Call, search: RequestSearch, code: str) -> list[pb.Case]:
    found: list[pb.Case] = []
    token = ""
    while len(found) < MAX_REQUESTS:
        request = pb.ListCasesRequest(
            states=search.states,
            category_code=code,
            page=paging_pb2.PageRequest(
                page_size=min(MAX_PAGE_SIZE, MAX_REQUESTS - len(found)), page_token=token
            ),
        )
        if search.since is not None:
            request.since.CopyFrom(timestamp_of(search.since))
        if search.until is not None:
            request.until.CopyFrom(timestamp_of(search.until))
        reply: pb.ListCasesResponse = call.stub.ListCases(request, **call.options)
        found += reply.cases
        token = reply.page.next_page_token
        if not token:
            break
    return found


@router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
def unknown_resource(rest: str) -> Response:
    """Anything else under a jurisdiction: a GeoReport 404, not the REST API's problem."""
    raise not_found(
        "open311.resource_unknown",
        "没有这个 GeoReport 资源：可用 discovery、services、requests（加 .json 或 .xml）",
        f"no GeoReport resource {rest[:60]!r}; see discovery, services, requests (.json/.xml)",
    )
