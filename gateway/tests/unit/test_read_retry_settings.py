"""GET retries end before the deadline of the call they retry."""

import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings


def test_read_retries_default_to_a_budget_below_the_deadline() -> None:
    settings = GatewaySettings()
    assert 0 < settings.grpc_read_retry_budget_s < settings.grpc_timeout_s


@pytest.mark.parametrize("budget", [5.0, 8.0, -1.0])
def test_a_budget_not_below_the_deadline_is_refused(budget: float) -> None:
    with pytest.raises(ValidationError, match="grpc_read_retry_budget_s"):
        GatewaySettings(grpc_timeout_s=5.0, grpc_read_retry_budget_s=budget)


def test_a_zero_budget_turns_retries_off() -> None:
    assert GatewaySettings(grpc_read_retry_budget_s=0).grpc_read_retry_budget_s == 0
