"""A schema-driven fuzz run over the gateway's whole OpenAPI document (schemathesis).

Every operation the running gateway documents at /openapi.json is called with generated
requests — data that fits the schema (positive) and data that does not (negative) — as a real
user: a community's staff in their community, the street's admin on the street's routes
(onboarding, operations, statistics). Every answer must be something the document promises:
no 5xx, a documented status, a documented content type and headers, a body that matches its
schema. The run is bounded (a few examples per operation) and derandomized, so CI reproduces
it; it prints how many requests it made and what each check found.

The fuzzed community is Xiangyuan, which no other security test reads: the fuzz run creates,
changes and removes whatever its generated requests manage to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shequ_infra.platform import RunningPlatform

if TYPE_CHECKING:
    from tests.security.conftest import DemoTokens

pytestmark = pytest.mark.platform  # a session of its own: see the Makefile

COMMUNITY, COMMUNITY_STAFF = "xiaoshan.shushan.xiangyuan", "xiangyuan-staff"
STREET, STREET_ADMIN = "xiaoshan.shushan", "shushan-admin"
# Per operation and generation mode: ~110 operations x 2 modes stay within a few minutes on
# two busy cores.
EXAMPLES_PER_OPERATION = 10
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Caller:
    user: str
    tenant: str


def caller_of(operation: APIOperation[Any, Any, Any, Any]) -> Caller:
    """Who calls an operation: the street admin where the street is the natural caller."""
    street_route = (
        operation.path.startswith("/api/v1/ops/")
        or "/stats/" in operation.path
        or (operation.path == "/api/v1/tenants" and operation.method.upper() == "POST")
    )
    return Caller(STREET_ADMIN, STREET) if street_route else Caller(COMMUNITY_STAFF, COMMUNITY)


@dataclass
class FuzzTally:
    """What the run did and found: requests per mode, answers per status, failures per check
    (with the first example of each check and operation)."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)

    def record_failure(self, operation: str, failure: Failure, description: str) -> None:
        check = failure.checks[0] if failure.checks else failure.title
        self.failures[check] += 1
        self.examples.setdefault((operation, check), description)

    def report(self) -> str:
        lines = [
            f"fuzz run: {sum(self.requests.values())} requests "
            f"({', '.join(f'{n} {mode}' for mode, n in sorted(self.requests.items()))})",
            f"  answers by status: {dict(sorted(self.statuses.items()))}",
            "  failures by check: "
            + ", ".join(f"{check.__name__} {self.failures[check.__name__]}" for check in CHECKS),
        ]
        lines += [
            f"  {operation} [{check}]: {example}"
            for (operation, check), example in self.examples.items()
        ]
        return "\n".join(lines)


def fuzz_operation(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    *,
    gateway_url: str,
    token_of: Callable[[str], str],
    tally: FuzzTally,
) -> None:
    """Up to ``EXAMPLES_PER_OPERATION`` generated requests of one operation, each answer
    checked; failures are tallied rather than raised, so one run reports all of them."""
    caller = caller_of(operation)
    tenant = {"tenant": caller.tenant} if "{tenant}" in operation.path else None

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=tenant))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,  # the same requests on every run: CI reproduces a failure
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call_once(case: Case[Any]) -> None:
        tally.requests[mode.value] += 1
        headers = {"Authorization": f"Bearer {token_of(caller.user)}"}
        response = case.call(base_url=gateway_url, headers=headers, timeout=REQUEST_TIMEOUT_S)
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=list(CHECKS), headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                tally.record_failure(operation.label, failure, _described(failure, response, case))
        except Failure as failure:
            tally.record_failure(operation.label, failure, _described(failure, response, case))

    try:
        call_once()
    except Unsatisfiable:
        # Nothing to get wrong: an operation without parameters or body has no negative data.
        assert mode is GenerationMode.NEGATIVE, operation.label


def _described(failure: Failure, response: Response, case: Case[Any]) -> str:
    what = failure.message.replace("\n", " ")[:300] if failure.message else failure.title
    return f"{response.status_code} {what} — {case.as_curl_command()}"


# The package's first test also waits for the platform to start: on two busy cores that and
# the run together may pass the 10 minutes every other test gets.
@pytest.mark.timeout(1200)
def test_fuzz_run_answers_every_operation_within_its_documented_schema(
    platform: RunningPlatform, tokens: DemoTokens, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.gateway_url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        # An operation described so that no request can be built is a finding too.
        assert isinstance(result, Ok), f"unusable operation in the document: {result.err()}"
        operations.append(result.ok())
    tally = FuzzTally()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(
                operation, mode, gateway_url=platform.gateway_url, token_of=tokens, tally=tally
            )
    with capsys.disabled():  # the figures show in every run, not only a failing one
        print(f"\nfuzz run over {len(operations)} operations\n{tally.report()}", flush=True)
    assert sum(tally.requests.values()) >= len(operations) * 2, tally.report()
    assert not tally.failures, tally.report()
