"""The gateway as `make run` runs it (its own process, real Keycloak, PostgreSQL, Kafka), next
to a bare FastAPI endpoint served the same way (bench.bare) and loaded by the same clients: the
ratio is what the gateway's token check, registry read and middleware cost."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.bare import PATH as BARE_PATH
from bench.results import Figure, Reference
from bench.timing import closed_loop
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform
from shequ_infra.processes import free_port, spawn, wait_until_ready
from shequ_kit.tokens import TokenVerifier

VERIFICATIONS = 2_000
REQUESTS = 1_000
CLIENTS = (1, 8)
ONBOARDINGS = 5
TREE = "/api/v1/tenants"


def token_verification(infra: LocalInfrastructure) -> list[Figure]:
    token = infra.keycloak.password_grant("hushan-staff", "shequ-demo")["access_token"]
    verifier = TokenVerifier(issuer=infra.keycloak.issuer, audience="shequ")
    verifier.verify(token)  # fetch the keys once, as a running process would have
    began = time.perf_counter()
    for _ in range(VERIFICATIONS):
        verifier.verify(token)
    rate = VERIFICATIONS / (time.perf_counter() - began)
    return [Figure("token verification (cached JWKS)", rate, "tokens/s")]


@contextmanager
def bare_endpoint(body: bytes, logs: Path) -> Iterator[str]:
    """bench.bare on a free port, answering ``body``; yields its base URL."""
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(body)
        file.flush()
        process = spawn(
            "bare FastAPI endpoint",
            [sys.executable, "-m", "bench.bare", "127.0.0.1", str(port), file.name],
            log_path=logs / "bench-bare.log",
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(process, lambda: _answers(url + BARE_PATH), timeout=60)
            yield url
        finally:
            process.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).is_success
    except httpx.HTTPError:
        return False


def gateway_overhead(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    """GET the tenant tree as a street admin with 1 and 8 concurrent clients, then the bare
    endpoint answering the same body with the same clients."""
    admin = infra.keycloak.password_grant("shushan-admin", "shequ-demo")["access_token"]
    headers = {"Authorization": f"Bearer {admin}"}
    body = httpx.get(platform.gateway_url + TREE, headers=headers, timeout=30)
    body.raise_for_status()
    figures = []
    with bare_endpoint(body.content, infra.workdir / "logs") as bare_url:
        for clients in CLIENTS:
            ours = closed_loop(
                platform.gateway_url, TREE, clients=clients, requests=REQUESTS, headers=headers
            )
            bare = closed_loop(bare_url, BARE_PATH, clients=clients, requests=REQUESTS)
            if bare.errors:
                raise RuntimeError(f"the bare endpoint failed {bare.errors} requests")
            figures.append(
                Figure(
                    f"GET {TREE} (street admin, {len(body.content):,} bytes), "
                    f"{clients} client{'s' if clients > 1 else ''}",
                    ours.per_second,
                    "req/s",
                    p50_ms=ours.p50_ms,
                    p99_ms=ours.p99_ms,
                    requests=ours.requests,
                    errors=ours.errors,
                    reference=Reference(
                        "bare FastAPI endpoint",
                        bare.per_second,
                        p50_ms=bare.p50_ms,
                        p99_ms=bare.p99_ms,
                    ),
                )
            )
    return figures


def onboarding(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    admin = infra.keycloak.password_grant("shushan-admin", "shequ-demo")["access_token"]
    headers = {"Authorization": f"Bearer {admin}"}
    onboard = []
    with httpx.Client(base_url=platform.gateway_url, headers=headers, timeout=30) as client:
        for _ in range(ONBOARDINGS):
            slug = f"bench-{uuid.uuid4().hex[:8]}"
            began = time.perf_counter()
            response = client.post(
                "/api/v1/tenants",
                json={"id": f"xiaoshan.shushan.{slug}", "name_zh": "压测社区", "name_en": "Bench"},
            )
            onboard.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
    return [
        Figure(
            "onboard a community (Keycloak groups + registry + outbox), median",
            statistics.median(onboard),
            "ms",
        )
    ]


def run(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    return (
        token_verification(infra) + gateway_overhead(infra, platform) + onboarding(infra, platform)
    )
