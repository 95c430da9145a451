"""THE CRASH TEST: `python -m notify dispatch` is SIGKILLed in the middle of a notice to more
than 2,000 residents over inbox, e-mail and SMS, restarted, and the notice finishes with every
person reached exactly once per channel at the real local sinks: nothing lost, nothing twice.

The dispatcher runs as a real process (its own run mode, configured by environment), the
census as a real server over a synthetic community of about 850 households, and the channels'
servers are shequ_infra.sinks. Sending is slowed (rate limits) only so that the kill lands
mid-send; the restarted process sends at full speed. A delivery the killed process had claimed
is resent by the new one once its lease runs out, with the same idempotency key (Message-ID,
OutId): the mailbox keeps one copy per Message-ID and the provider drops the repeated OutId.
"""

import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from census.app import prepare_core as prepare_census
from census.config import CensusSettings
from census.seed import community_rows, insert_community
from census.synthetic import generate_community
from notify.config import NotifySettings
from shequ_infra import LocalInfrastructure
from shequ_infra.processes import ManagedProcess, spawn
from shequ_infra.sinks import Sinks, running_sinks
from shequ_kit.tenancy import TenantId, tenant_scope

from .conftest import CENSUS_TODAY, DATABASE, Sql, Upstreams

COMMUNITY = "xiaoshan.shushan.xiushui"
HOUSEHOLDS = 850
LEASE_S = 3
KILL_AT_SHARE = 0.3  # of the deliveries settled when the first process is killed
FINISH_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def crowd(infra: LocalInfrastructure, upstreams: Upstreams) -> list[tuple[uuid.UUID, bool]]:
    """A community of ~2,000 residents in the census notify asks: (resident id, has phone)."""
    settings = CensusSettings(
        database_url=infra.postgres.dsn("notify_census"), keycloak_issuer=infra.keycloak.issuer
    )
    tenant = TenantId(COMMUNITY)
    with (
        prepare_census(settings, today=lambda: CENSUS_TODAY) as census,
        tenant_scope(tenant),
        census.sessions.begin() as session,
    ):
        community = generate_community(
            tenant_id=COMMUNITY, seed=11, households=HOUSEHOLDS, today=CENSUS_TODAY
        )
        rows = community_rows(community, census, tenant)
        insert_community(session, rows, CENSUS_TODAY)
    found = [(uuid.UUID(str(r["id"])), r["phone_cipher"] is not None) for r in rows["resident"]]
    assert len(found) >= 2000
    return found


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    with running_sinks() as running:
        yield running


def superuser(infra: LocalInfrastructure) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(infra.postgres.superuser_dsn(DATABASE), autocommit=True)


def arrange_contacts(infra: LocalInfrastructure, crowd: list[tuple[uuid.UUID, bool]]) -> None:
    """Every 9th resident reads the app (an account), every 6th of the others has e-mail; the
    rest are reached by SMS (or not at all: children without a phone)."""
    rows: list[tuple[str, uuid.UUID, str | None, str | None]] = []
    for index, (resident_id, _) in enumerate(crowd):
        if index % 9 == 0:
            rows.append((COMMUNITY, resident_id, f"crash-account-{index}", None))
        elif index % 6 == 0:
            rows.append((COMMUNITY, resident_id, None, f"crash-{index}@example.org"))
    with superuser(infra) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO contacts (tenant_id, resident_id, account_subject, email, opted_out, "
            "version, updated_at) VALUES (%s, %s, %s, %s, '{}', 1, now()) "
            "ON CONFLICT (tenant_id, resident_id) DO NOTHING",
            rows,
        )


def create_notice(infra: LocalInfrastructure) -> uuid.UUID:
    """The notice as CreateNotice writes it: due now, its audience to be resolved."""
    notice_id = uuid.uuid4()
    with superuser(infra) as conn:
        conn.execute(
            "INSERT INTO notices (id, tenant_id, kind, template_code, template_version, "
            "subject_source, body_source, variables, audience, channels, urgent, state, send_at, "
            "created_at, sender, version) VALUES (%s, %s, 'anti_fraud', 'anti_fraud.alert', 0, "
            "'【反诈预警】{{ title }}', '{{ recipient_name }}您好：{{ content }}', %s, %s, "
            "%s, true, 'scheduled', now(), now(), 'crash-test', 1)",
            (
                notice_id,
                COMMUNITY,
                json.dumps({"title": "冒充客服诈骗", "content": "请勿向陌生账户转账。"}),
                json.dumps({"whole_community": True}),
                ["inbox", "email", "sms"],
            ),
        )
    return notice_id


def start_dispatcher(
    name: str, settings: NotifySettings, sinks: Sinks, log_dir: Path, **rates: float
) -> ManagedProcess:
    env = {
        **os.environ,
        "NOTIFY_DATABASE_URL": settings.database_url,
        "NOTIFY_KEYCLOAK_ISSUER": settings.keycloak_issuer,
        "NOTIFY_CENSUS_TARGET": settings.census_target,
        "NOTIFY_GRID_TARGET": settings.grid_target,
        "NOTIFY_SMTP_HOST": sinks.smtp_host,
        "NOTIFY_SMTP_PORT": str(sinks.smtp_port),
        "NOTIFY_SMS_ENDPOINT": sinks.sms_endpoint,
        "NOTIFY_SMS_ACCESS_KEY_ID": sinks.sms_access_key_id,
        "NOTIFY_SMS_ACCESS_KEY_SECRET": sinks.sms_access_key_secret,
        "NOTIFY_LEASE_S": str(LEASE_S),
        "NOTIFY_DISPATCH_BATCH": "100",
        "NOTIFY_DISPATCH_INTERVAL_S": "0.1",
        **{f"NOTIFY_RATE_{k.upper()}": str(v) for k, v in rates.items()},
    }
    return spawn(
        name,
        [sys.executable, "-m", "notify", "dispatch"],
        log_path=log_dir / f"{name}.log",
        env=env,
    )


def tally(sql: Sql, notice_id: uuid.UUID) -> dict[tuple[str | None, str], int]:
    rows = sql(
        "SELECT channel, state, count(*) FROM deliveries WHERE notice_id = %s GROUP BY 1, 2",
        notice_id,
    )
    return {(channel, state): number for channel, state, number in rows}


def resent_after_uncertain(log_path: Path) -> int:
    """What the restarted dispatcher logged it resent after an uncertain outcome."""
    total = 0
    for line in log_path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "resending after an uncertain outcome":
            total += int(entry["count"])
    return total


@pytest.mark.timeout(600)
def test_killed_dispatcher_loses_nothing_and_duplicates_nothing(
    infra: LocalInfrastructure,
    settings: NotifySettings,
    sql: Sql,
    sinks: Sinks,
    crowd: list[tuple[uuid.UUID, bool]],
    tmp_path: Path,
) -> None:
    arrange_contacts(infra, crowd)
    notice_id = create_notice(infra)

    # Slow enough that the kill lands mid-send.
    first = start_dispatcher("dispatch-1", settings, sinks, tmp_path, email_per_s=40, sms_per_s=300)
    deadline = time.monotonic() + FINISH_TIMEOUT_S
    while True:
        assert first.running, first.log_path.read_text()
        counts = tally(sql, notice_id)
        total = sum(counts.values())
        settled = sum(n for (_, state), n in counts.items() if state not in ("queued", "sending"))
        if total and settled >= KILL_AT_SHARE * total:
            break
        assert time.monotonic() < deadline, "the first dispatcher never got going"
        time.sleep(0.05)
    first.kill()
    killed_at = tally(sql, notice_id)
    in_flight = sum(n for (_, state), n in killed_at.items() if state == "sending")
    still_queued = sum(n for (_, state), n in killed_at.items() if state == "queued")
    assert still_queued + in_flight > 0, "the kill came too late to test anything"

    second = start_dispatcher("dispatch-2", settings, sinks, tmp_path)
    try:
        while sql("SELECT state FROM notices WHERE id = %s", notice_id)[0][0] != "sent":
            assert second.running, second.log_path.read_text()
            assert time.monotonic() < deadline, "the notice did not finish after the restart"
            time.sleep(0.2)
    finally:
        second.stop()

    rows = sql(
        "SELECT id, recipient, channel, state, address FROM deliveries WHERE notice_id = %s",
        notice_id,
    )
    recipients = len(rows)
    by_channel = Counter(channel for _, _, channel, _, _ in rows)
    assert recipients == len(crowd)  # one delivery per resident, however often expanded
    assert all(address is None for *_, address in rows)

    # SMS: one message per phone, exactly the notice's SMS deliveries (OutIds).
    sms_ids = {str(i) for i, _, channel, _, _ in rows if channel == "sms"}
    received_sms = sinks.records.sms_by_phone()
    assert all(len(messages) == 1 for messages in received_sms.values())
    assert {m.out_id for ms in received_sms.values() for m in ms} == sms_ids
    # E-mail: the mailbox holds each delivery's message once, one per address.
    email_ids = {f"<{i}@shequ.notify>" for i, _, channel, _, _ in rows if channel == "email"}
    mailbox = sinks.records.emails()
    assert set(mailbox) == email_ids
    assert all(count == 1 for count in Counter(m.to for m in mailbox.values()).values())
    # Inbox: one message per inbox delivery.
    inbox = sql(
        "SELECT delivery_id, count(*) FROM inbox_messages WHERE notice_id = %s GROUP BY 1",
        notice_id,
    )
    inbox_ids = {str(i) for i, _, channel, _, _ in rows if channel == "inbox"}
    assert {str(i) for i, _ in inbox} == inbox_ids
    assert all(number == 1 for _, number in inbox)

    states = Counter(state for _, _, _, state, _ in rows)
    lost = (
        len(sms_ids - {m.out_id for ms in received_sms.values() for m in ms})
        + len(email_ids - set(mailbox))
        + len(inbox_ids - {str(i) for i, _ in inbox})
    )
    duplicates_absorbed = (sinks.records.email_raw_count - len(mailbox)) + (
        sinks.records.sms_repeats_dropped
    )
    resent = resent_after_uncertain(second.log_path)
    assert lost == 0
    assert states["failed"] == 0
    assert resent >= in_flight  # every row the killed process held was sent again
    print(
        f"\n[crash] {datetime.now(UTC):%H:%M:%S} recipients={recipients} "
        f"by channel={dict(by_channel)} at kill: in flight={in_flight} queued={still_queued}\n"
        f"[crash] sent={states['sent']} delivered={states['delivered']} "
        f"unreachable={states['unreachable']} duplicates per person=0 lost={lost} "
        f"resent after uncertain={resent} (repeats the sinks absorbed by idempotency key: "
        f"{duplicates_absorbed})"
    )
