"""`shequ-local`: run the local infrastructure in the foreground, or just fill the download cache.

shequ-local run     start PostgreSQL, Kafka and Keycloak, print where they listen, Ctrl-C stops
shequ-local fetch   download Kafka and Keycloak into the cache (nothing is started)
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from shequ_infra import downloads
from shequ_infra.java import find_java
from shequ_infra.keycloak import LOCAL_ADMIN, demo_users
from shequ_infra.platform import RunningPlatform, running_platform
from shequ_infra.processes import ComponentFailedError
from shequ_infra.stack import LocalInfrastructure, running_infrastructure
from shequ_infra.versions import cache_dir, pinned_versions


def banner(infra: LocalInfrastructure, platform: RunningPlatform) -> str:
    kc = infra.keycloak
    gw = platform.gateway_url
    lines = ["", "Shequ 社区 — the platform is up", ""]
    lines += [
        f"  Web console:   {gw}/console/   (log in as a demo user below: shushan-admin → the "
        "street cockpit, hushan-staff → Hushan's workspace, shibei-grid / shibei-resident → "
        "phone pages)",
        f"  Gateway API:   {gw}/api/v1/   (OpenAPI docs {gw}/docs, readiness {gw}/readyz)",
        f"  Census gRPC:   {platform.census_target}",
        f"  Grid gRPC:     {platform.grid_target}   (grids, micro-grids, coverage, visits; "
        f"demo layouts as {infra.workdir / 'logs' / 'grid-seed.log'} reports)",
        f"  Cases gRPC:    {platform.cases_target}   (report → dispatch → handle → close → rate; "
        "escalation scheduler running)",
        f"  Notify gRPC:   {platform.notify_target}   (notices, case messages; dispatcher running)",
        f"  Inbox:         {gw}/api/v1/inbox   (站内信 of the logged-in user)",
        f"  Notify sinks:  {platform.sinks.http_url}/messages   (e-mail, SMS and robot posts "
        f"received; SMTP on 127.0.0.1:{platform.sinks.smtp_port})",
        f"  Open311:       {gw}/open311/v2/xiaoshan.beigan.shibei/discovery.json",
        f"  Logs:          {infra.workdir / 'logs'}",
        "",
    ]
    lines += [f"  {line}" for line in infra.summary()]
    lines += [
        "",
        f"  Keycloak admin console: {kc.url}/admin/  "
        f"(user {LOCAL_ADMIN[0]}, password {LOCAL_ADMIN[1]})",
        f"  Realm account console:  {kc.issuer}/account/",
        "",
        "  Demo logins (realm 'shequ'):",
    ]
    lines += [f"    {u.username:<16} {u.password:<11} {u.description}" for u in demo_users()]
    lines += ["", "  Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def run() -> int:
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print("Starting PostgreSQL, Kafka and Keycloak …", flush=True)
    try:
        with (
            running_infrastructure() as infra,
            running_platform(infra, console_port=True) as platform,
        ):
            print(banner(infra, platform), flush=True)
            stop.wait()
            print("Stopping …", flush=True)
    except ComponentFailedError as error:
        print(f"\n{error}", file=sys.stderr)
        return 1
    print("Stopped.")
    return 0


def fetch() -> int:
    java = find_java()
    versions = pinned_versions()
    print(f"Java {java.major} ({java.source}); cache {cache_dir()}")
    print(f"Kafka {versions.kafka}: {downloads.kafka_libs(java)}")
    print(f"Keycloak {versions.keycloak}: {downloads.keycloak_dist(java)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="shequ-local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["run", "fetch"])
    args = parser.parse_args(argv)
    try:
        return run() if args.command == "run" else fetch()
    except ComponentFailedError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
