"""Census at scale: importing residents, and listing them among a million.

Import: a CSV of 200,000 synthetic residents streamed to the census service's ImportResidents
(file → gRPC → service → PostgreSQL, with validation, encryption and lookup hashes), next to a
raw PostgreSQL COPY of the same file into a plain table in the same run.
List: 1,000,000 residents in 100 communities, then a filtered page of 50 (elderly, one
community) through the real gRPC server, p50/p99.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import date

import grpc
import psycopg

from census.__main__ import MIGRATIONS
from census.app import CensusCore, build_server, prepare_core
from census.config import CensusSettings
from census.imports.template import COLUMNS
from census.models import insert_rows
from census.people.models import Household, Resident
from census.places.models import Building, Complex, Dwelling, Unit
from census.seed import community_rows
from census.synthetic import generate_community
from shequ.census.v1 import census_pb2 as pb
from shequ.census.v1 import census_pb2_grpc
from shequ.common.v1 import paging_pb2
from shequ_infra import LocalInfrastructure
from shequ_infra.processes import free_port
from shequ_kit.migrations import upgrade
from shequ_kit.tenancy import TenantId, tenant_scope

Row = tuple[str, float, str]
TODAY = date(2026, 11, 23)
IMPORT_RESIDENTS = 200_000
LIST_COMMUNITIES = 100
LIST_HOUSEHOLDS = 4_000  # × 2.5 residents × 100 communities ≈ 1,000,000
LIST_REQUESTS = 300
HEADER = [column.header_zh for column in COLUMNS]  # the template, in its order
RELATION_ZH = {"self": "户主", "spouse": "配偶", "child": "子女", "parent": "父母", "other": "其他"}
RESIDENCE_ZH = {"registered": "户籍", "resident": "常住", "migrant": "流动"}
TENURE_ZH = {"owner": "自有", "tenant": "租住"}


def import_file(residents: int) -> bytes:
    community = generate_community(
        tenant_id="xiaoshan.shushan.bench", seed=77, households=int(residents / 2.4), today=TODAY
    )
    places = {d.key: d for d in community.dwellings}
    units = {u.key: u for u in community.units}
    buildings = {b.key: b for b in community.buildings}
    complexes = {c.key: c for c in community.complexes}
    homes = {h.key: h for h in community.households}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for r in community.residents[:residents]:
        home = homes[r.household_key]
        dwelling = places[home.dwelling_key]
        unit = units[dwelling.unit_key]
        building = buildings[unit.building_key]
        writer.writerow(
            [
                r.name,
                r.id_number,
                r.phone or "",
                RELATION_ZH[r.relation_to_head.value],
                RESIDENCE_ZH[r.residence_type.value],
                TENURE_ZH[home.tenure.value],
                complexes[building.complex_key].name,
                building.number,
                unit.number,
                dwelling.room,
                r.moved_in_on.isoformat(),
                "",
                "",
                "2026-11-01",
            ]
        )
    return buffer.getvalue().encode("utf-8")


def chunks(data: bytes) -> Iterator[pb.ImportResidentsRequest]:
    yield pb.ImportResidentsRequest(
        header=pb.ImportHeader(file_name="bench.csv", format=pb.IMPORT_FORMAT_CSV)
    )
    for start in range(0, len(data), 1 << 20):
        yield pb.ImportResidentsRequest(chunk=data[start : start + (1 << 20)])


def staff_metadata(infra: LocalInfrastructure, tenant: str) -> tuple[tuple[str, str], ...]:
    token = infra.keycloak.password_grant("hushan-staff", "shequ-demo")["access_token"]
    return (("authorization", f"Bearer {token}"), ("x-tenant-id", tenant))


def import_throughput(
    infra: LocalInfrastructure, stub: census_pb2_grpc.CensusServiceStub, dsn: str
) -> list[Row]:
    data = import_file(IMPORT_RESIDENTS)
    began = time.perf_counter()
    report = stub.ImportResidents(
        chunks(data), timeout=900, metadata=staff_metadata(infra, "xiaoshan.shushan.hushan")
    )
    ours = report.rows_imported / (time.perf_counter() - began)
    with psycopg.connect(dsn) as connection:
        connection.execute(
            "CREATE TEMP TABLE copied (" + ", ".join(f"c{i} text" for i in range(len(HEADER))) + ")"
        )
        began = time.perf_counter()
        with connection.cursor().copy("COPY copied FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
            copy.write(data)
        copied = IMPORT_RESIDENTS / (time.perf_counter() - began)
    return [
        (
            f"import {report.rows_imported:,} residents (file → gRPC → service → PostgreSQL)",
            ours,
            "residents/s",
        ),
        ("raw PostgreSQL COPY of the same file", copied, "rows/s"),
        ("import as a share of COPY", 100 * ours / copied, "%"),
    ]


def seed_million(core: CensusCore) -> int:
    """Bulk-write the communities as the demo seed does (encryption and hashes included)."""
    total = 0
    for number in range(LIST_COMMUNITIES):
        tenant = TenantId(f"xiaoshan.bench.c{number:03d}")
        community = generate_community(
            tenant_id=tenant.value, seed=1000 + number, households=LIST_HOUSEHOLDS, today=TODAY
        )
        rows = community_rows(community, core, tenant)
        with tenant_scope(tenant), core.sessions.begin() as session:
            for model in (Complex, Building, Unit, Dwelling, Household, Resident):
                insert_rows(session, model, rows[model.__tablename__])
        total += len(rows["resident"])
    return total


def filtered_list(
    infra: LocalInfrastructure, core: CensusCore, stub: census_pb2_grpc.CensusServiceStub
) -> list[Row]:
    began = time.perf_counter()
    total = seed_million(core)
    seeded = time.perf_counter() - began
    with psycopg.connect(infra.postgres.superuser_dsn("census_bench"), autocommit=True) as c:
        c.execute("ANALYZE")
    # The platform admin reads every community (a grant on the whole tree).
    admin = infra.keycloak.password_grant("platform", "shequ-demo")["access_token"]
    request = pb.ListResidentsRequest(
        care_tag=pb.CARE_TAG_ELDERLY, page=paging_pb2.PageRequest(page_size=50)
    )
    samples = []
    for i in range(LIST_REQUESTS):
        tenant = f"xiaoshan.bench.c{i % LIST_COMMUNITIES:03d}"
        began = time.perf_counter()
        page = stub.ListResidents(
            request,
            timeout=10,
            metadata=(("authorization", f"Bearer {admin}"), ("x-tenant-id", tenant)),
        )
        samples.append((time.perf_counter() - began) * 1000)
        assert len(page.residents) == 50
    samples.sort()
    return [
        (
            f"seed {total:,} residents in {LIST_COMMUNITIES} communities",
            total / seeded,
            "residents/s",
        ),
        ("list 50 elderly residents of a community, p50", samples[len(samples) // 2], "ms"),
        ("list 50 elderly residents of a community, p99", samples[int(len(samples) * 0.99)], "ms"),
    ]


def run(infra: LocalInfrastructure) -> list[Row]:
    infra.postgres.create_database("census_bench")
    dsn = infra.postgres.dsn("census_bench")
    upgrade(MIGRATIONS, dsn)
    settings = CensusSettings(
        database_url=dsn, keycloak_issuer=infra.keycloak.issuer, grpc_port=free_port()
    )
    with prepare_core(settings, today=lambda: TODAY) as core:
        server = build_server(core)
        server.start()
        try:
            with grpc.insecure_channel(
                f"127.0.0.1:{settings.grpc_port}",
                options=[("grpc.max_receive_message_length", 64 << 20)],
            ) as channel:
                stub = census_pb2_grpc.CensusServiceStub(channel)
                return import_throughput(infra, stub, dsn) + filtered_list(infra, core, stub)
        finally:
            server.stop(grace=None)
