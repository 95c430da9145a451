"""Notify at scale: one notice fanned out to a community of 10,000 residents over e-mail, group
robots and SMS (to the platform's real local SMTP and HTTP servers), and the time from a case's
dispatch to the assignee's in-app message.

The community is onboarded and imported through the gateway as a street would; 5 % of its
residents get an e-mail address and every other building a residents' group robot, so the
notice spreads over every external channel. It is urgent, so quiet hours never hold it, whatever
the time the benchmark runs.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import date
from typing import Any

import httpx
import psycopg

from bench.cases import ok, staff_client
from bench.results import Figure
from bench.timing import percentile
from census.generate import community_csv
from census.synthetic import generate_community
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform

COMMUNITY = "xiaoshan.shushan.junle"  # one of Shushan's six communities still preparing
HOUSEHOLDS = 4_170  # × ~2.4 residents: about 10,000
EMAIL_SHARE = 20  # one resident in 20 has an e-mail address
SHIBEI = "xiaoshan.beigan.shibei"
STAIRWELL_CLUTTER = "0103"
LATENCY_CASES = 100
FINISH_TIMEOUT_S = 120.0
POLL_S = 0.005


def answer(response: httpx.Response) -> Any:
    """The gateway's JSON answer; a refusal stops the benchmark saying why."""
    return ok(response).json()


def prepare_community(infra: LocalInfrastructure, platform: RunningPlatform) -> int:
    """Onboard the community, import its residents, give it robots and e-mail addresses;
    returns how many residents live there."""
    admin = infra.keycloak.password_grant("shushan-admin", "shequ-demo")["access_token"]
    community = generate_community(
        tenant_id=COMMUNITY, seed=2026, households=HOUSEHOLDS, today=date(2026, 11, 23)
    )
    with staff_client(platform, admin) as client:
        onboard = {"id": COMMUNITY, "name_zh": "郡乐社区", "name_en": "Junle"}
        answer(client.post("/api/v1/tenants", json=onboard))
        # The census is written by the community's own staff: the street creates the account.
        username, password = f"junle-bench-{uuid.uuid4().hex[:6]}", "Junle-bench-2026"
        answer(
            client.post(
                f"/api/v1/tenants/{COMMUNITY}/members",
                json={
                    "username": username,
                    "display_name": "郡乐社工",
                    "role": "community-staff",
                    "initial_password": password,
                    "temporary_password": False,
                },
            )
        )
    staff = infra.keycloak.password_grant(username, password)["access_token"]
    with staff_client(platform, staff) as client:
        report = answer(
            client.post(
                f"/api/v1/tenants/{COMMUNITY}/imports",
                files={
                    "file": (
                        "junle.csv",
                        community_csv(community, verified_on=date(2026, 11, 1)),
                        "text/csv",
                    )
                },
            )
        )
        buildings: list[dict[str, Any]] = []
        token = ""
        while True:
            page = answer(
                client.get(
                    f"/api/v1/tenants/{COMMUNITY}/buildings",
                    params={"page_size": 200, "page_token": token},
                )
            )
            buildings += page["items"]
            if not (token := page["next_page_token"]):
                break
        # Every other building has its residents' group (楼栋群) with a robot in it.
        for number, building in enumerate(buildings[::2], start=1):
            answer(
                client.post(
                    f"/api/v1/tenants/{COMMUNITY}/notification-robots",
                    json={
                        "name": f"{building['number']}楼栋群",
                        "building_id": building["id"],
                        "webhook_url": platform.sinks.webhook_url(f"junle-{number}"),
                    },
                )
            )
    with psycopg.connect(infra.postgres.superuser_dsn("census")) as census:
        residents = [
            row[0]
            for row in census.execute(
                "SELECT id FROM resident WHERE tenant_id = %s AND moved_out_on IS NULL ORDER BY id",
                (COMMUNITY,),
            )
        ]
    notify_dsn = infra.postgres.superuser_dsn("notify")
    with psycopg.connect(notify_dsn) as notify, notify.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO contacts (tenant_id, resident_id, email, opted_out, version, "
            "updated_at) VALUES (%s, %s, %s, '{}', 1, now())",
            [
                (COMMUNITY, resident, f"jumin-{str(resident)[:8]}@example.org")
                for resident in residents[::EMAIL_SHARE]
            ],
        )
    assert report["rows_imported"] == len(residents), report
    return len(residents)


def fan_out(
    infra: LocalInfrastructure, platform: RunningPlatform, residents: int, label: str
) -> list[Figure]:
    """One urgent anti-fraud notice to the whole community, timed from its creation until every
    delivery is final; then what the sinks received, person by person."""
    platform.sinks.reset()
    admin = infra.keycloak.password_grant("shushan-admin", "shequ-demo")["access_token"]
    with staff_client(platform, admin) as client:
        began = time.perf_counter()
        notice = answer(
            client.post(
                f"/api/v1/tenants/{COMMUNITY}/notices",
                json={
                    "template_code": "anti_fraud.alert",
                    "variables": {
                        "title": "警惕冒充公检法诈骗",
                        "content": "公检法机关不会通过电话要求转账，请勿向“安全账户”汇款。",
                    },
                    "audience": {"whole_community": True},
                    "channels": ["email", "wecom", "sms"],
                    "urgent": True,
                },
            )
        )
        while notice["state"] != "sent":
            if time.perf_counter() - began > FINISH_TIMEOUT_S:
                raise RuntimeError(f"the notice did not finish: {notice['counts']}")
            time.sleep(0.05)
            notice = answer(client.get(f"/api/v1/tenants/{COMMUNITY}/notices/{notice['id']}"))
        elapsed = time.perf_counter() - began
    counts = notice["counts"]
    by_channel = counts["by_channel"]
    records = platform.sinks.records
    sms = Counter({phone: len(texts) for phone, texts in records.sms_by_phone().items()})
    mails = Counter(address for email in records.emails().values() for address in email.to)
    mentions: Counter[str] = Counter()
    for post in records.robot_posts():
        mentions.update(post.mentions)
    # A person counted twice anywhere: an SMS phone, a mailbox, a robot mention, or one
    # Message-ID taken twice by the SMTP server.
    duplicates = sum(n - 1 for c in (sms, mails, mentions) for n in c.values() if n > 1)
    duplicates += sum(n - 1 for n in records.email_receptions().values() if n > 1)
    reached = sum(sms.values()) + sum(mails.values()) + sum(mentions.values())
    handled = counts["sent"] + counts["delivered"] + counts["failed"]
    assert counts["recipients"] == residents, (counts, residents)

    def final(channel: str) -> int:
        got = by_channel.get(channel, {})
        return int(got.get("sent", 0) + got.get("delivered", 0))

    return [
        Figure(f"{label}: notice to a community of {residents:,}", counts["recipients"], "people"),
        Figure(
            "  reached at the sinks (SMS phones + mailboxes + robot mentions)", reached, "people"
        ),
        Figure("  by SMS", final("sms"), "people"),
        Figure("  by e-mail", final("email"), "people"),
        Figure("  by group robot (@mention in the building's group)", final("wecom"), "people"),
        Figure(
            "  unreachable (no phone, no e-mail: mostly children)", counts["unreachable"], "people"
        ),
        Figure("  failed", counts["failed"], "deliveries"),
        Figure("  duplicates at the sinks (target 0)", duplicates, ""),
        Figure("  whole community: create → every delivery final (target ≤ 5)", elapsed, "s"),
        Figure("  fan-out rate (target ≥ 2,000)", handled / elapsed, "deliveries/s"),
    ]


def dispatch_to_inbox(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    """Cases at a Shibei building routed to shibei-grid: from the report's answer (the case is
    dispatched by then) to the in-app message stored for shibei-grid."""
    staff = infra.keycloak.password_grant("shibei-staff", "shequ-demo")["access_token"]
    latencies: list[float] = []
    with (
        staff_client(platform, staff) as client,
        psycopg.connect(infra.postgres.superuser_dsn("notify"), autocommit=True) as notify,
    ):
        grids = answer(client.get(f"/api/v1/tenants/{SHIBEI}/grids"))["items"]
        first = next(g for g in grids if g["number"] == 1)
        grid = answer(client.get(f"/api/v1/tenants/{SHIBEI}/grids/{first['id']}"))
        micro = next(m for m in grid["micro_grids"] if m["number"] == 1)
        building = answer(
            client.get(
                f"/api/v1/tenants/{SHIBEI}/grids/{first['id']}/buildings",
                params={"micro_grid_id": micro["id"]},
            )
        )["items"][0]["building_id"]
        for number in range(LATENCY_CASES):
            case = answer(
                client.post(
                    f"/api/v1/tenants/{SHIBEI}/cases",
                    json={
                        "category_code": STAIRWELL_CLUTTER,
                        "title": f"楼道堆放杂物 {number}",
                        "place": {"building_id": building},
                    },
                )
            )
            answered = time.perf_counter()
            while not notify.execute(
                "SELECT 1 FROM inbox_messages WHERE case_id = %s", (case["id"],)
            ).fetchone():
                if time.perf_counter() - answered > 30:
                    raise RuntimeError(f"no in-app message for case {case['number']}")
                time.sleep(POLL_S)
            latencies.append((time.perf_counter() - answered) * 1000)
    return [
        Figure("case dispatch → assignee's in-app message, p50", percentile(latencies, 0.5), "ms"),
        Figure(
            "case dispatch → assignee's in-app message, p99 (target ≤ 1000)",
            percentile(latencies, 0.99),
            "ms",
        ),
    ]


def run(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    residents = prepare_community(infra, platform)
    rows = fan_out(infra, platform, residents, "one dispatcher (as make run)")
    # The dispatcher scales out: a second replica shares the claims (SKIP LOCKED).
    platform.start_another("notify dispatch")
    rows += fan_out(infra, platform, residents, "two dispatcher replicas")
    return rows + dispatch_to_inbox(infra, platform)
