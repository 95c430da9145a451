import base64
from pathlib import Path

from shequ_infra.kafka import new_cluster_id, server_properties
from shequ_infra.versions import pinned_versions


def test_pinned_versions_come_from_the_pom() -> None:
    versions = pinned_versions()
    assert versions.kafka.startswith("4.")
    assert versions.keycloak.startswith("26.")


def test_kafka_cluster_id_is_sixteen_bytes_in_url_safe_base64() -> None:
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert new_cluster_id() != cluster_id


def test_kafka_cluster_ids_never_look_like_an_option() -> None:
    # One random id in 64 would start with "-"; a thousand draws would all but surely hit one.
    assert not any(new_cluster_id().startswith("-") for _ in range(1000))


def test_kafka_listens_on_loopback_only_with_its_own_ports(tmp_path: Path) -> None:
    text = server_properties(port=19092, controller_port=19093, log_dir=tmp_path)
    props = dict(line.split("=", 1) for line in text.splitlines() if line)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["process.roles"] == "broker,controller"
    assert props["log.dirs"] == str(tmp_path)
