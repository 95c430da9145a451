"""Wires settings → engine, token verifier, directory, service stubs → the FastAPI application."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial

import httpx
from fastapi import Depends, FastAPI, Request, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway import console, me, ops
from gateway.audit import views as audit
from gateway.cases import views as cases
from gateway.census import spreadsheets as census_spreadsheets
from gateway.census import views as census
from gateway.config import GatewaySettings
from gateway.directory import KeycloakDirectory
from gateway.grid import views as grid
from gateway.inputs import refuse_unstorable_text
from gateway.limits import install_limits
from gateway.members import views as members
from gateway.notify import views as notify
from gateway.open311 import views as open311
from gateway.operations import views as operations
from gateway.problem_responses import PROBLEM_RESPONSES, document_problems
from gateway.problems import install_problem_handlers
from gateway.tenants import views as tenants
from shequ.cases.v1 import cases_pb2_grpc
from shequ.census.v1 import census_pb2_grpc
from shequ.grid.v1 import grid_pb2_grpc
from shequ.notify.v1 import notify_pb2_grpc
from shequ.ops.v1 import ops_pb2_grpc
from shequ_kit.context import call_context, new_request_id
from shequ_kit.db import make_engine, tenant_sessionmaker
from shequ_kit.grpc_client import ReadRetry, idempotent_calls, make_channel
from shequ_kit.tokens import TokenVerifier

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Requests that change nothing: the service calls they make may be tried again (ReadRetry).
_SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass
class GatewayCore:
    settings: GatewaySettings
    engine: Engine
    sessions: sessionmaker[Session]
    verifier: TokenVerifier
    directory: KeycloakDirectory
    census: census_pb2_grpc.CensusServiceStub
    grid: grid_pb2_grpc.GridServiceStub
    cases: cases_pb2_grpc.CasesServiceStub
    notify: notify_pb2_grpc.NotifyServiceStub
    # Each service's OpsService, by service name (/api/v1/ops/…).
    ops: Mapping[str, ops_pb2_grpc.OpsServiceStub]


@contextmanager
def prepare_core(settings: GatewaySettings) -> Iterator[GatewayCore]:
    """Everything the gateway holds open; closed on exit. Nothing connects here: the engine,
    the HTTP client and the gRPC channels connect on first use."""
    channel_to = partial(
        make_channel,
        default_timeout_s=settings.grpc_timeout_s,
        read_retry=ReadRetry(budget_s=settings.grpc_read_retry_budget_s),
    )
    census_channel = channel_to(settings.census_target)
    grid_channel = channel_to(settings.grid_target)
    cases_channel = channel_to(settings.cases_target)
    notify_channel = channel_to(settings.notify_target)
    engine = make_engine(settings.database_url, timeouts=settings.database_timeouts)
    http = httpx.Client(timeout=settings.keycloak_timeout_s)  # the realm's signing keys
    try:
        yield GatewayCore(
            settings=settings,
            engine=engine,
            sessions=tenant_sessionmaker(engine),
            verifier=TokenVerifier(
                issuer=settings.issuer, audience=settings.token_audience, http=http
            ),
            directory=KeycloakDirectory(
                server_url=settings.keycloak_url,
                realm=settings.keycloak_realm,
                client_id=settings.keycloak_client_id,
                client_secret=settings.keycloak_client_secret.get_secret_value(),
                timeout_s=settings.keycloak_timeout_s,
            ),
            census=census_pb2_grpc.CensusServiceStub(census_channel),
            grid=grid_pb2_grpc.GridServiceStub(grid_channel),
            cases=cases_pb2_grpc.CasesServiceStub(cases_channel),
            notify=notify_pb2_grpc.NotifyServiceStub(notify_channel),
            ops={
                "census": ops_pb2_grpc.OpsServiceStub(census_channel),
                "grid": ops_pb2_grpc.OpsServiceStub(grid_channel),
                "cases": ops_pb2_grpc.OpsServiceStub(cases_channel),
                "notify": ops_pb2_grpc.OpsServiceStub(notify_channel),
            },
        )
    finally:
        census_channel.close()
        grid_channel.close()
        cases_channel.close()
        notify_channel.close()
        http.close()
        engine.dispose()


def create_app(core: GatewayCore) -> FastAPI:
    app = FastAPI(
        title="Shequ 社区 API",
        version="1.0.0",
        description="社区治理平台接口。Community governance platform API. Errors are "
        "RFC 9457 problem+json.",
        separate_input_output_schemas=False,
        # /docs shows each operation's x-shequ-roles (who may call it, gateway.access).
        swagger_ui_parameters={"showExtensions": True},
        # Before any route: text no service could store is refused naming the field.
        dependencies=[Depends(refuse_unstorable_text)],
    )
    app.state.core = core
    install_problem_handlers(app)
    # Before the request-id middleware, so that one wraps it: refusals carry the request id.
    install_limits(app, core.settings)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else new_request_id()
        retried = idempotent_calls() if request.method in _SAFE_METHODS else nullcontext()
        with call_context(request_id=rid, principal=None), retried:
            response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response

    # The census spreadsheets come before the census routes: GET residents/export would
    # otherwise be taken for GET residents/{resident_id}.
    routers = (
        console.router,
        me.router,
        tenants.router,
        members.router,
        operations.router,
        audit.router,
    )
    services = (
        census_spreadsheets.router,
        census.router,
        grid.router,
        cases.router,
        notify.router,
        notify.inbox_router,
    )
    # /healthz and /readyz answer anyone, without refusals; every API route may answer any
    # of the problems (declared once here, so new routes are documented too).
    app.include_router(ops.router)
    for router in (*routers, *services):
        app.include_router(router, responses=dict(PROBLEM_RESPONSES))
    # GeoReport v2 (/open311/v2/{tenant}/…) answers its errors in the GeoReport shape.
    app.include_router(open311.router)
    document_problems(app)
    return app
