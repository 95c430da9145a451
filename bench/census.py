"""Census at scale: importing residents, and listing them among a million.

Import: a CSV of 200,000 synthetic residents streamed to the census service's ImportResidents
(file → gRPC → service → PostgreSQL, with validation, encryption and lookup hashes), next to its
reference: a raw PostgreSQL COPY of the same file into a plain table in the same run.
List: 1,000,000 residents in 100 communities, then a filtered page of 50 (elderly, one
community) through the real gRPC server, p50/p99.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import grpc
import httpx
import psycopg

from bench.results import Figure, Reference
from bench.storage import bytes_per_record
from census.__main__ import MIGRATIONS
from census.app import CensusCore, build_server, prepare_core
from census.config import CensusSettings
from census.generate import community_csv
from census.imports.template import COLUMNS
from census.seed import community_rows, insert_community
from census.statistics import statistics
from census.synthetic import generate_community
from shequ.census.v1 import census_pb2 as pb
from shequ.census.v1 import census_pb2_grpc
from shequ.common.v1 import paging_pb2
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform
from shequ_infra.processes import free_port
from shequ_kit.migrations import upgrade
from shequ_kit.tenancy import TenantId, tenant_scope

TODAY = date(2026, 11, 23)
IMPORT_RESIDENTS = 200_000
IMPORT_TENANT = "xiaoshan.shushan.hushan"  # a demo community its staff user may write
LIST_COMMUNITIES = 100
LIST_HOUSEHOLDS = 4_000  # × 2.5 residents × 100 communities ≈ 1,000,000
LIST_REQUESTS = 300
STATS_REQUESTS = 100
BENCH_STREET = "xiaoshan.bench"  # the 100 communities' parent
HEADER = [column.header_zh for column in COLUMNS]  # the template, in its order
RELATION_ZH = {"self": "户主", "spouse": "配偶", "child": "子女", "parent": "父母", "other": "其他"}
RESIDENCE_ZH = {"registered": "户籍", "resident": "常住", "migrant": "流动"}
TENURE_ZH = {"owner": "自有", "tenant": "租住"}


def import_file(residents: int) -> bytes:
    community = generate_community(
        tenant_id="xiaoshan.shushan.bench", seed=77, households=int(residents / 2.4), today=TODAY
    )
    return community_csv(community, verified_on=date(2026, 11, 1))


def import_throughput(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    """POST the file to the gateway as community staff, as a browser would; the gateway streams
    it to the census service, which checks, encrypts and writes every row."""
    data = import_file(IMPORT_RESIDENTS)
    token = infra.keycloak.password_grant("hushan-staff", "shequ-demo")["access_token"]
    with httpx.Client(
        base_url=platform.gateway_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=900,
    ) as client:
        began = time.perf_counter()
        response = client.post(
            f"/api/v1/tenants/{IMPORT_TENANT}/imports",
            files={"file": ("bench.csv", data, "text/csv")},
        )
        elapsed = time.perf_counter() - began
    response.raise_for_status()
    report = response.json()
    ours = report["rows_imported"] / elapsed
    # The reference: the same file copied (COPY) into a plain logged table of as many columns,
    # on the same server, in the same run (no checks, no encryption, no indexes).
    columns = ", ".join(f"c{i} text" for i in range(len(HEADER)))
    with psycopg.connect(infra.postgres.superuser_dsn("census")) as connection:
        connection.execute(f"CREATE TABLE bench_copied ({columns})")
        connection.commit()
        began = time.perf_counter()
        with connection.cursor().copy(
            "COPY bench_copied FROM STDIN WITH (FORMAT csv, HEADER)"
        ) as copy:
            copy.write(data)
        connection.commit()
        copied = report["rows_total"] / (time.perf_counter() - began)
        connection.execute("DROP TABLE bench_copied")
        connection.commit()
    rejected = report["rows_total"] - report["rows_imported"]
    return [
        Figure(
            f"import {report['rows_imported']:,} residents (file → gateway → census → PostgreSQL; "
            f"{rejected:,} rows refused, e.g. already in the demo seed)",
            ours,
            "rows/s",
            reference=Reference(f"raw COPY of the same {report['rows_total']:,} rows", copied),
        ),
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
            insert_community(session, rows, TODAY)  # the statistics tallies too
        total += len(rows["resident"])
    return total


def filtered_list(
    infra: LocalInfrastructure, core: CensusCore, stub: census_pb2_grpc.CensusServiceStub
) -> list[Figure]:
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
        Figure(
            f"seed {total:,} residents in {LIST_COMMUNITIES} communities",
            total / seeded,
            "residents/s",
        ),
        Figure("list 50 elderly residents of a community, p50", samples[len(samples) // 2], "ms"),
        Figure(
            "list 50 elderly residents of a community, p99", samples[int(len(samples) * 0.99)], "ms"
        ),
        *census_statistics(core, stub, admin),
        Figure(
            "storage per resident (every census table and index / residents)",
            bytes_per_record(infra.postgres.superuser_dsn("census_bench"), total),
            "bytes",
        ),
    ]


def census_statistics(
    core: CensusCore, stub: census_pb2_grpc.CensusServiceStub, token: str
) -> list[Figure]:
    """GetStatistics over the seeded million: one community, and the whole tree of 100 summed
    from their buildings' tallies; then the first request of a new day, which recounts every
    building of the tree (measured in the service's code, rolled back)."""
    rows: list[Figure] = []
    communities = [f"{BENCH_STREET}.c{i % LIST_COMMUNITIES:03d}" for i in range(STATS_REQUESTS)]
    for label, tenants in (
        ("one community", communities),
        (f"the tree of {LIST_COMMUNITIES} communities", [BENCH_STREET] * STATS_REQUESTS),
    ):
        samples = []
        for tenant in tenants:
            metadata = (("authorization", f"Bearer {token}"), ("x-tenant-id", tenant))
            began = time.perf_counter()
            answer = stub.GetStatistics(
                pb.GetStatisticsRequest(by_complex=True), timeout=30, metadata=metadata
            )
            samples.append((time.perf_counter() - began) * 1000)
            assert answer.total.residents > 0
        samples.sort()
        rows += [
            Figure(f"census statistics of {label}, p50", samples[len(samples) // 2], "ms"),
            Figure(f"census statistics of {label}, p99", samples[int(len(samples) * 0.99)], "ms"),
        ]
    with tenant_scope(TenantId(BENCH_STREET)), core.sessions() as session:
        began = time.perf_counter()
        statistics(
            session,
            today=TODAY + timedelta(days=1),
            by_complex=False,
            by_building=False,
            street_parts=True,
        )
        recounted = (time.perf_counter() - began) * 1000
        session.rollback()
    rows.append(
        Figure(
            f"first statistics of a new day, tree of {LIST_COMMUNITIES} (recount)", recounted, "ms"
        )
    )
    return rows


def run(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    rows = import_throughput(infra, platform)
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
            with grpc.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
                stub = census_pb2_grpc.CensusServiceStub(channel)
                return rows + filtered_list(infra, core, stub)
        finally:
            server.stop(grace=None)
