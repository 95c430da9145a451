"""The rendered NetworkPolicies admit exactly the flows of ARCHITECTURE.md, nothing more."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import yaml

from shequ_deploycheck.chart import NAMESPACE, chart_dir
from shequ_deploycheck.netflows import (
    Endpoint,
    admitted_flows,
    peer_endpoints,
    release_endpoints,
    selector_matches,
)

Manifests = list[Mapping[str, Any]]
PACKAGES = ("census", "grid", "cases", "notify", "gateway")

# ARCHITECTURE.md, "Communication" and "Data": only the gateway is reachable from outside;
# gRPC questions gateway → every service, cases → grid, notify → census and grid; every
# process → Kafka, Keycloak and its own database; notify → the channels' providers.
EXPECTED = (
    {("ingressController", "gateway")}
    | {("gateway", service) for service in ("census", "grid", "cases", "notify")}
    | {("cases", "grid"), ("notify", "census"), ("notify", "grid")}
    | {(package, peer) for package in PACKAGES for peer in ("kafka", "keycloak", "dns")}
    | {(package, f"database-{package}") for package in PACKAGES}
    | {("notify", "outside")}
)


def values() -> Mapping[str, Any]:
    loaded: Mapping[str, Any] = yaml.safe_load(
        (chart_dir() / "values.yaml").read_text(encoding="utf-8")
    )
    return loaded


def flows_of(manifests: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    endpoints = release_endpoints(manifests, NAMESPACE) + peer_endpoints(values(), NAMESPACE)
    return admitted_flows(manifests, endpoints, NAMESPACE)


def test_the_default_policies_admit_exactly_the_architectures_flows(
    default_manifests: Manifests,
) -> None:
    flows = flows_of(default_manifests)
    assert flows - EXPECTED == set(), "admitted but not in ARCHITECTURE.md"
    assert EXPECTED - flows == set(), "in ARCHITECTURE.md but refused"


def test_with_cloudnativepg_each_package_still_reaches_only_its_own_database(
    rendered: dict[str, Manifests],
) -> None:
    # The operators variant selects the databases by the clusters the chart creates; with the
    # default release name they carry the same labels as the default values' peers.
    assert flows_of(rendered["operators"]) == EXPECTED


def test_without_the_default_deny_the_graph_admits_strangers(
    default_manifests: Manifests,
) -> None:
    """The comparison can fail: drop the default deny and relays accept anyone."""
    manifests = [m for m in default_manifests if not m["metadata"]["name"].endswith("default-deny")]
    extra = flows_of(manifests) - EXPECTED
    assert ("stranger", "census") in extra
    assert ("neighbour", "gateway") in extra


def test_a_widened_egress_rule_shows_up_as_extra_flows(default_manifests: Manifests) -> None:
    manifests = [dict(m) for m in default_manifests]
    policy = next(m for m in manifests if m["metadata"]["name"] == "shequ-census-egress")
    widened = {
        **policy["spec"],
        "egress": [*policy["spec"]["egress"], {"to": [{"podSelector": {}}]}],
    }
    manifests[manifests.index(policy)] = {**policy, "spec": widened}
    extra = flows_of(manifests) - EXPECTED
    assert {("census", "database-grid"), ("census", "neighbour")} <= extra
    # The gateway's own ingress policy still refuses census: both ends must admit a flow.
    assert ("census", "gateway") not in extra


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {"a": "1"}, True),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
    ],
)
def test_label_selectors_follow_kubernetes(
    selector: Mapping[str, Any], labels: Mapping[str, str], matches: bool
) -> None:
    assert selector_matches(selector, labels) is matches


def test_an_ip_block_admits_the_internet_but_not_the_cluster() -> None:
    policy = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "out"},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}],
        },
    }
    ours = Endpoint(name="ours", namespace="ns", pod_labels={"app": "ours"}, ours=True)
    internet = Endpoint(name="internet", namespace="", ip="203.0.113.7")
    inside = Endpoint(name="inside", namespace="other", pod_labels={"app": "x"}, ip="10.1.2.3")
    assert admitted_flows([policy], [ours, internet, inside], "ns") == {
        ("ours", "internet"),
        ("internet", "ours"),
        ("inside", "ours"),
    }
