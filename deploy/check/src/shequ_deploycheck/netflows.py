"""Which flows rendered NetworkPolicies admit: the graph a cluster would enforce.

Endpoints are the release's own pods (from the rendered Deployments and Jobs) and the peers
outside it (the ingress controller, Kafka, Keycloak, DNS, the databases, the Internet, and a
stranger that nothing should reach), each with the labels and address a real one would have.
A flow from A to B is admitted when A's egress and B's ingress both allow it, with Kubernetes'
semantics: a pod no policy of that direction selects is not isolated; a selected pod admits only
what one of its policies' rules allows. Flows are reported per package (``census``), so a test
can compare them with ARCHITECTURE.md's list. Ports are not part of the graph.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """One kind of pod (or address) as a policy sees it; ``name`` is what flows report."""

    name: str
    namespace: str
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    ip: str = "10.244.0.10"
    ours: bool = False

    @property
    def namespace_labels(self) -> Mapping[str, str]:
        return {NAMESPACE_LABEL: self.namespace}


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions); an empty one selects everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(
        _expression_holds(expression, labels)
        for expression in selector.get("matchExpressions") or []
    )


def _expression_holds(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = expression.get("values") or []
    present = key in labels
    holds = {
        "In": present and labels.get(key) in values,
        "NotIn": not (present and labels.get(key) in values),
        "Exists": present,
        "DoesNotExist": not present,
    }
    return holds[operator]


def peer_matches(peer: Mapping[str, Any], endpoint: Endpoint, policy_namespace: str) -> bool:
    """A NetworkPolicyPeer: an ipBlock, or pods by namespace and pod selectors."""
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(endpoint.ip)
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
    if endpoint.ours is False and not endpoint.pod_labels:
        return False  # an address outside the cluster is no pod
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], endpoint.namespace_labels):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return selector_matches(peer.get("podSelector"), endpoint.pod_labels)


def _rule_admits(
    rule: Mapping[str, Any], key: str, endpoint: Endpoint, policy_namespace: str
) -> bool:
    peers = rule.get(key)
    if not peers:
        return True  # a rule without peers admits every peer
    return any(peer_matches(peer, endpoint, policy_namespace) for peer in peers)


def _policy_types(policy: Mapping[str, Any]) -> list[str]:
    spec = policy["spec"]
    types = spec.get("policyTypes")
    if types:
        return list(types)
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _admits(
    policies: list[Mapping[str, Any]],
    direction: str,
    subject: Endpoint,
    other: Endpoint,
    namespace: str,
) -> bool:
    selecting = [
        p
        for p in policies
        if direction in _policy_types(p)
        and selector_matches(p["spec"]["podSelector"], subject.pod_labels)
    ]
    if not selecting:
        return True
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    return any(
        _rule_admits(rule, peers_key, other, namespace)
        for policy in selecting
        for rule in policy["spec"].get(rules_key) or []
    )


def admitted_flows(
    manifests: Iterable[Mapping[str, Any]], endpoints: Iterable[Endpoint], namespace: str
) -> set[tuple[str, str]]:
    """(from, to) names of every admitted flow with at least one end in the release."""
    policies = [m for m in manifests if m.get("kind") == "NetworkPolicy"]
    everyone = list(endpoints)
    flows = set()
    for source in everyone:
        for target in everyone:
            if source is target or not (source.ours or target.ours):
                continue
            egress = not source.ours or _admits(policies, "Egress", source, target, namespace)
            ingress = not target.ours or _admits(policies, "Ingress", target, source, namespace)
            if egress and ingress:
                flows.add((source.name, target.name))
    return flows


def release_endpoints(manifests: Iterable[Mapping[str, Any]], namespace: str) -> list[Endpoint]:
    """The release's pods, one endpoint per Deployment and Job, named by their package."""
    endpoints = []
    for manifest in manifests:
        if manifest.get("kind") in ("Deployment", "Job"):
            labels = manifest["spec"]["template"]["metadata"].get("labels") or {}
            endpoints.append(
                Endpoint(
                    name=str(labels.get("app.kubernetes.io/name")),
                    namespace=namespace,
                    pod_labels=dict(labels),
                    ours=True,
                )
            )
    return endpoints


def _labels(selector: Mapping[str, Any] | None) -> dict[str, str]:
    return dict((selector or {}).get("matchLabels") or {})


def peer_endpoints(values: Mapping[str, Any], namespace: str) -> list[Endpoint]:
    """The peers the chart's values describe, as a real pod of each would be labelled."""
    policy = values["networkPolicy"]

    def outside_pod(name: str, ip: str) -> Endpoint:
        peer = policy[name]
        namespace_labels = _labels(peer.get("namespaceSelector"))
        return Endpoint(
            name=name,
            namespace=namespace_labels.get(NAMESPACE_LABEL, namespace),
            pod_labels=_labels(peer.get("podSelector")),
            ip=ip,
        )

    endpoints = [
        outside_pod("ingressController", "10.244.1.10"),
        outside_pod("kafka", "10.244.2.10"),
        outside_pod("keycloak", "10.244.3.10"),
        outside_pod("dns", "10.96.0.10"),
        # A provider on the Internet, and a pod of someone else's in another namespace.
        Endpoint(name="outside", namespace="", ip="203.0.113.10"),
        Endpoint(name="stranger", namespace="elsewhere", pod_labels={"app": "stranger"}),
        # Another workload in the release's own namespace that is not part of the release.
        Endpoint(name="neighbour", namespace=namespace, pod_labels={"app": "neighbour"}),
    ]
    for package, spec in values["services"].items():
        peer = spec["database"]["peer"]
        endpoints.append(
            Endpoint(
                name=f"database-{package}",
                namespace=_labels(peer.get("namespaceSelector")).get(NAMESPACE_LABEL, namespace),
                pod_labels=_labels(peer.get("podSelector")),
                ip="10.244.4.10",
            )
        )
    return endpoints
