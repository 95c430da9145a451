"""Wires settings → engine, token verifier, directory, service stubs → the FastAPI application."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway import console, me, ops
from gateway.cases import views as cases
from gateway.census import spreadsheets as census_spreadsheets
from gateway.census import views as census
from gateway.config import GatewaySettings
from gateway.directory import KeycloakDirectory
from gateway.grid import views as grid
from gateway.members import views as members
from gateway.notify import views as notify
from gateway.open311 import views as open311
from gateway.operations import views as operations
from gateway.problems import install_problem_handlers
from gateway.tenants import views as tenants
from shequ.cases.v1 import cases_pb2_grpc
from shequ.census.v1 import census_pb2_grpc
from shequ.grid.v1 import grid_pb2_grpc
from shequ.notify.v1 import notify_pb2_grpc
from shequ.ops.v1 import ops_pb2_grpc
from shequ_kit.context import call_context, new_request_id
from shequ_kit.db import make_engine, tenant_sessionmaker
from shequ_kit.grpc_client import make_channel
from shequ_kit.tokens import TokenVerifier

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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
    census_channel = make_channel(settings.census_target, default_timeout_s=settings.grpc_timeout_s)
    grid_channel = make_channel(settings.grid_target, default_timeout_s=settings.grpc_timeout_s)
    cases_channel = make_channel(settings.cases_target, default_timeout_s=settings.grpc_timeout_s)
    notify_channel = make_channel(settings.notify_target, default_timeout_s=settings.grpc_timeout_s)
    engine = make_engine(settings.database_url)
    http = httpx.Client(timeout=settings.outbound_timeout_s)
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
                timeout_s=settings.outbound_timeout_s,
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
    )
    app.state.core = core
    install_problem_handlers(app)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else new_request_id()
        with call_context(request_id=rid, principal=None):
            response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response

    # The census spreadsheets come before the census routes: GET residents/export would
    # otherwise be taken for GET residents/{resident_id}.
    routers = (
        ops.router,
        console.router,
        me.router,
        tenants.router,
        members.router,
        operations.router,
    )
    services = (
        census_spreadsheets.router,
        census.router,
        grid.router,
        cases.router,
        notify.router,
        notify.inbox_router,
    )
    # GeoReport v2 (/open311/v2/{tenant}/…) answers its errors in the GeoReport shape.
    for router in (*routers, *services, open311.router):
        app.include_router(router)
    return app
