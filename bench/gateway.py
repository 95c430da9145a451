"""The gateway as `make run` runs it (its own process, real Keycloak, PostgreSQL, Kafka)."""

from __future__ import annotations

import statistics
import time
import uuid

import httpx

from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform
from shequ_kit.tokens import TokenVerifier

Row = tuple[str, float, str]
VERIFICATIONS = 2_000
TREE_REQUESTS = 300
ONBOARDINGS = 5


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def token_verification(infra: LocalInfrastructure) -> list[Row]:
    token = infra.keycloak.password_grant("hushan-staff", "shequ-demo")["access_token"]
    verifier = TokenVerifier(issuer=infra.keycloak.issuer, audience="shequ")
    verifier.verify(token)  # fetch the keys once, as a running process would have
    began = time.perf_counter()
    for _ in range(VERIFICATIONS):
        verifier.verify(token)
    return [
        (
            "token verification (cached JWKS)",
            VERIFICATIONS / (time.perf_counter() - began),
            "tokens/s",
        )
    ]


def gateway_requests(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Row]:
    admin = infra.keycloak.password_grant("shushan-admin", "shequ-demo")["access_token"]
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=platform.gateway_url, headers=headers, timeout=30) as client:
        client.get("/api/v1/tenants").raise_for_status()
        tree = []
        for _ in range(TREE_REQUESTS):
            began = time.perf_counter()
            client.get("/api/v1/tenants").raise_for_status()
            tree.append((time.perf_counter() - began) * 1000)
        onboard = []
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
        ("GET /api/v1/tenants (street admin), p50", statistics.median(tree), "ms"),
        ("GET /api/v1/tenants (street admin), p99", percentile(tree, 0.99), "ms"),
        (
            "onboard a community (Keycloak groups + registry + outbox), median",
            statistics.median(onboard),
            "ms",
        ),
    ]


def run(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Row]:
    return token_verification(infra) + gateway_requests(infra, platform)
