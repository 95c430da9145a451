"""The dispatcher of one process: its channels with their rate limits, and one pass over the
steps (see ``notify.delivery``). Channels are drained in parallel threads, so a slow one (e-mail
at its rate limit) does not hold up the others."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, Final

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from notify import audiences, preferences
from notify.app import NotifyCore
from notify.audiences import Recipient
from notify.channels.base import Channel, Outcome, Outgoing
from notify.channels.email import EmailChannel
from notify.channels.inbox import InboxEntry, is_inbox_owner, store_in_inbox
from notify.channels.sms import SmsChannel
from notify.channels.wecom import WecomChannel, parse_wecom_address
from notify.delivery import queries
from notify.delivery.finishing import NOTICES_PER_PASS, fail_cancelled, finish_notices
from notify.delivery.receipts import SmsReceipts
from notify.delivery.rules import (
    BAD_INBOX_REASON,
    DELIVERY_OUTCOMES,
    GONE_REASON,
    INBOX,
    RESENT_AFTER_UNCERTAIN,
    UNREACHABLE_REASON,
    Claimed,
    DispatchStats,
    NoticeText,
    RetryPolicy,
    SendWindow,
    Settlement,
    reason_of,
    refusal,
    settle,
)
from notify.models import ACTIVE_NOTICE_STATES, DeliveryRow, NoticeRow, RobotRow
from notify.ratelimit import TokenBuckets
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.db import system_scope
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.tenancy import TenantId, tenant_scope

log = logging.getLogger(__name__)

EXPANSION_BATCH: Final = 500
# How long one channel may keep draining within a pass before expansion and finishing get a
# turn again.
PASS_BUDGET_S: Final = 2.0
# A sender running across passes (the run mode) keeps at a channel this long before the pass
# hands it the tenants due anew; handing over costs a pass (~1 s under load), so not too often.
SENDER_BUDGET_S: Final = 10.0
EXPAND_RETRY: Final = timedelta(seconds=15)
# An idle dispatcher looks at its stop signal this often.
IDLE_SLICE_S: Final = 0.05
# Senders per channel in one process: while one waits for the provider or the database, the
# other claims and renders the next batch.
SENDERS: Final = {INBOX: 2, "sms": 2, "wecom": 2}
ADDRESS_RETRY: Final = timedelta(seconds=30)
# Group-robot claims are this many batches: their rows are taken robot by robot and a claim's
# robots post in parallel, so a larger claim is fewer round trips and more groups at once.
ROBOT_CLAIM_BATCHES: Final = 5


def run_forever(core: NotifyCore, stop: threading.Event) -> None:
    """Pass after pass until ``stop``; idle passes are ``dispatch_interval_s`` apart."""
    with Dispatcher.for_core(core) as dispatcher:
        log.info("dispatcher started", extra={"fields": {"channels": list(dispatcher.channels)}})
        while not stop.is_set():
            try:
                busy = dispatcher.run_once(wait=False) > 0
            except Exception:  # a failed pass is retried on the next tick; rows stay leased
                log.exception("dispatch pass failed")
                busy = False
            if not busy:
                dispatcher.idle(core.settings.dispatch_interval_s, stop)
        log.info("dispatcher stopped", extra={"fields": dispatcher.stats.as_dict()})


def run_once(core: NotifyCore) -> int:
    """One pass with a dispatcher of its own (tests); returns how much work it did."""
    with Dispatcher.for_core(core) as dispatcher:
        done = dispatcher.run_once()
        return done + dispatcher.finish_expansion()


class Dispatcher:
    """One process's dispatcher: its channels, rate limits and counters."""

    def __init__(
        self,
        core: NotifyCore,
        channels: Mapping[str, Channel],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        settings = core.settings
        self.core = core
        self.channels = dict(channels)
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - retry jitter, not a secret
        self.policy = RetryPolicy(
            settings.max_attempts, settings.retry_base_s, settings.retry_cap_s
        )
        self.batch = settings.dispatch_batch
        self.lease = timedelta(seconds=settings.lease_s)
        self.stats = DispatchStats()
        self._notices: dict[uuid.UUID, NoticeText] = {}
        self._notices_lock = threading.Lock()
        self._expand_after: dict[uuid.UUID, datetime] = {}
        # Set when background work ended with something for the next pass to do at once (robot
        # deliveries released by an expansion, a notice a sender may have finished).
        self._wake = threading.Event()
        provider = self.channels.get("sms")
        self.receipts = (
            SmsReceipts(core, provider, self.stats, clock)
            if isinstance(provider, SmsChannel)
            else None
        )
        self._expansion: Future[int] | None = None
        self._receipts: Future[int] | None = None
        # Senders still at work from earlier passes, per (channel, sender number).
        self._senders: dict[tuple[str, int], Future[int]] = {}
        senders = sum(SENDERS.get(c, 1) for c in [INBOX, *self.channels])
        self._pool = ThreadPoolExecutor(  # the senders, the expansion and the receipts
            max_workers=senders + 2, thread_name_prefix="notify-dispatch"
        )

    @classmethod
    @contextmanager
    def for_core(cls, core: NotifyCore) -> Iterator[Dispatcher]:
        """The dispatcher with the channels the settings describe."""
        s = core.settings
        with httpx.Client(
            timeout=s.http_timeout_s,
            # Robot posts (parallel per batch), SMS batches and receipts share these.
            limits=httpx.Limits(max_connections=24, max_keepalive_connections=16),
        ) as client:
            channels: dict[str, Channel] = {
                "email": EmailChannel(
                    host=s.smtp_host,
                    port=s.smtp_port,
                    sender=s.smtp_sender,
                    timeout_s=s.smtp_timeout_s,
                    limiter=_limit(s.rate_email_per_s),
                    batch_size=s.dispatch_batch,
                ),
                "wecom": WecomChannel(
                    client=client,
                    limiter=TokenBuckets.per_minute(s.rate_wecom_per_min_per_robot),
                    batch_size=s.dispatch_batch,
                ),
                "sms": SmsChannel(
                    client=client,
                    endpoint=s.sms_endpoint,
                    access_key_id=s.sms_access_key_id,
                    access_key_secret=s.sms_access_key_secret.get_secret_value(),
                    sign_name=s.sms_sign_name,
                    template_code=s.sms_template_code,
                    limiter=_limit(s.rate_sms_per_s),
                    batch_size=s.dispatch_batch,
                ),
            }
            dispatcher = cls(core, channels)
            try:
                yield dispatcher
            finally:
                dispatcher.close()

    def close(self) -> None:
        self._collect_senders(wait=True)
        if self._receipts is not None:
            self._receipts.result()
        self._pool.shutdown(wait=True)
        self.finish_expansion()

    def run_once(self, *, wait: bool = True) -> int:
        """One pass over every step; returns how many notices and deliveries it moved.

        Expansion runs in the background across passes, so the deliveries of a large notice go
        out while the rest of its audience is still streaming in. With ``wait=False`` (the run
        mode) each channel's senders also outlive the pass: a channel whose sender is still busy
        is left to it, so a slow channel (SMTP, one message at a time) never holds up the others
        until the pass's slowest sender ends. Tests pass ``wait=True`` for a pass that is over.
        """
        done = 0
        if self._expansion is None or self._expansion.done():
            finished, self._expansion = self._expansion, self._pool.submit(self.expand_due)
            done += finished.result() if finished is not None else 0
        done += self._collect_senders(wait=False)
        work = self._due_work()
        done += sum(self.address_due(TenantId(t)) for t in work.get(None, ()))
        for channel, tenants in work.items():
            if channel is None or not (channel == INBOX or channel in self.channels):
                continue
            for number in range(SENDERS.get(channel, 1)):
                if (channel, number) not in self._senders:
                    self._senders[channel, number] = self._pool.submit(
                        self.drain,
                        channel,
                        [TenantId(t) for t in tenants],
                        PASS_BUDGET_S if wait else SENDER_BUDGET_S,
                    )
        done += self._collect_senders(wait=wait)
        done += self._collect_receipts(wait=wait)
        done += fail_cancelled(self.core)
        done += finish_notices(self.core, self.clock, self.stats)
        return done

    def idle(self, seconds: float, stop: threading.Event) -> None:
        """Wait for the next pass: ``seconds``, or less when background work just ended with
        more to do (the robot deliveries of a notice whose expansion is over go out, a notice
        whose last batch settled is finished without waiting for the tick), or ``stop``."""
        until = time.monotonic() + seconds
        while not stop.is_set() and (left := until - time.monotonic()) > 0:
            if self._wake.wait(min(left, IDLE_SLICE_S)):
                break
        self._wake.clear()

    def _collect_receipts(self, *, wait: bool) -> int:
        """SMS receipts are asked for in the background too: a large query to the provider must
        not keep the pass from handing the senders their next round."""
        if self.receipts is None:
            return 0
        done = 0
        if self._receipts is not None and (wait or self._receipts.done()):
            done, self._receipts = self._receipts.result(), None
        if self._receipts is None:
            self._receipts = self._pool.submit(self.receipts.collect)
            if wait:
                done += self._receipts.result()
                self._receipts = None
        return done

    def _collect_senders(self, *, wait: bool) -> int:
        """What the finished senders moved (all of them, waiting, when ``wait``)."""
        done = 0
        for key, future in list(self._senders.items()):
            if wait or future.done():
                del self._senders[key]
                done += future.result()
        return done

    def finish_expansion(self) -> int:
        """Wait for the expansion under way (if any); the notices it expanded."""
        expansion, self._expansion = self._expansion, None
        return expansion.result() if expansion is not None else 0

    # -- 1. expansion

    def expand_due(self) -> int:
        now = self.clock()
        with system_scope(), self.core.sessions() as session:
            due = session.execute(
                select(NoticeRow.id, NoticeRow.tenant_id)
                .where(
                    NoticeRow.state.in_(ACTIVE_NOTICE_STATES),
                    NoticeRow.send_at <= now,
                    NoticeRow.expanded_at.is_(None),
                )
                .order_by(NoticeRow.send_at)
                .limit(NOTICES_PER_PASS)
            ).all()
        expanded = 0
        for notice_id, tenant_id in due:
            if self._expand_after.get(notice_id, now) > now:
                continue  # its audience could not be resolved a moment ago
            try:
                expanded += self.expand(TenantId(tenant_id), notice_id)
            except DomainError as error:
                if error.kind is ErrorKind.UNAVAILABLE:
                    log.warning("notice not expanded yet: %s", error.message_en)
                    self._expand_after[notice_id] = now + EXPAND_RETRY
                else:
                    self._expand_nobody(TenantId(tenant_id), notice_id, error)
        return expanded

    def expand(self, tenant: TenantId, notice_id: uuid.UUID) -> int:
        """Write the notice's deliveries batch by batch as its audience streams in; 0 when
        another replica is at it or it is done.

        Each batch commits (so sending starts at once), under an advisory lock that is this
        dispatcher's claim on the expansion: if it dies, its connection and the lock go, the
        notice is still unexpanded, and the next one expands it again, every batch with
        ON CONFLICT (notice, recipient) DO NOTHING, so nobody gets a second delivery.
        """
        with self._expansion_lock(notice_id) as mine:
            if not mine:
                return 0
            now = self.clock()
            with tenant_scope(tenant), self.core.sessions() as session:
                notice = session.scalars(
                    select(NoticeRow).where(
                        NoticeRow.id == notice_id,
                        NoticeRow.expanded_at.is_(None),
                        NoticeRow.state.in_(ACTIVE_NOTICE_STATES),
                    )
                ).first()
                if notice is None:
                    return 0
                notice_text = self._remember(notice)
                window = self._window(session, tenant, notice_text)
                audience = dict(notice.audience)
            recipients = audiences.resolve(
                self.core,
                tenant,
                audience,
                notice_text.channels,
                purpose=f"notice {notice_id}",
                with_phones=True,
            )
            due_now = held = total = 0
            held_until: datetime | None = None
            # A batch is written while the next one streams in from census; one write at a
            # time in flight, so memory stays one batch and a failed write stops the expansion.
            with ThreadPoolExecutor(1, thread_name_prefix="notify-expand") as writer:
                writing: Future[None] | None = None
                while batch := list(islice(recipients, EXPANSION_BATCH)):
                    rows = [self._first_delivery(notice_text, r, window, now) for r in batch]
                    if writing is not None:
                        writing.result()
                    writing = writer.submit(
                        self._write_deliveries, tenant, _new_deliveries(notice_text, rows, now)
                    )
                    total += len(rows)
                    for row in rows:
                        if row["state"] != "queued":
                            continue
                        if row["next_attempt_at"] > now:
                            held += 1
                            held_until = row["next_attempt_at"]
                        else:
                            due_now += 1
                if writing is not None:
                    writing.result()
            with tenant_scope(tenant), self.core.sessions.begin() as session:
                notice = session.scalars(
                    select(NoticeRow)
                    .where(NoticeRow.id == notice_id, NoticeRow.expanded_at.is_(None))
                    .with_for_update()
                ).first()
                if notice is None:
                    return 0
                notice.expanded_at = self.clock()
                notice.held_until = held_until
                # Held whole for quiet hours it stays scheduled (staff may still cancel it).
                if notice.state == "scheduled" and (due_now or not held):
                    notice.state = "sending"
                    notice.started_at = notice.started_at or now
                notice.version += 1
        self.stats.add(expanded_notices=1)
        self._wake.set()
        log.info(
            "notice expanded",
            extra={
                "fields": {
                    "notice_id": str(notice_id),
                    "recipients": total,
                    "due_now": due_now,
                    "held_for_quiet_hours": held,
                }
            },
        )
        return 1

    def _write_deliveries(self, tenant: TenantId, columns: Mapping[str, Any]) -> None:
        """One batch of first deliveries, committed at once so sending can start."""
        with tenant_scope(tenant), self.core.sessions.begin() as session:
            session.execute(queries.NEW_DELIVERIES, columns)

    @contextmanager
    def _expansion_lock(self, notice_id: uuid.UUID) -> Iterator[bool]:
        """A session-level advisory lock on the notice, held on a connection of its own for
        the whole expansion; PostgreSQL drops it with the connection if the process dies."""
        key = {"key": int.from_bytes(notice_id.bytes[:8], "big", signed=True)}
        with self.core.engine.connect() as connection:
            mine = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), key))
            connection.commit()
            try:
                yield mine
            finally:
                if mine:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                    connection.commit()

    def _first_delivery(
        self, notice: NoticeText, recipient: Recipient, window: SendWindow, now: datetime
    ) -> dict[str, Any]:
        choice = audiences.choose_channel(recipient, notice.channels)
        if choice is not None and choice[1] == audiences.WITHHELD:
            choice = None  # a phone census did not hand over cannot be used
        row: dict[str, Any] = {"recipient": recipient.key, "recipient_name": recipient.name[:100]}
        if choice is None:
            return row | {
                "channel": None,
                "address": None,
                "masked_address": "",
                "state": "unreachable",
                "failure_reason": UNREACHABLE_REASON,
                "next_attempt_at": None,
            }
        channel, address = choice
        return row | {
            "channel": channel,
            "address": address,
            "masked_address": recipient.masked.get(channel, ""),
            "state": "queued",
            "failure_reason": "",
            "next_attempt_at": window.due(channel, now),
        }

    def _expand_nobody(self, tenant: TenantId, notice_id: uuid.UUID, error: DomainError) -> None:
        """The audience can never be resolved (a place census or grid does not know): the
        notice is finished with no deliveries rather than retried forever."""
        log.error(
            "notice audience refused, nobody to send to: %s",
            error.message_en,
            extra={"fields": {"notice_id": str(notice_id)}},
        )
        with tenant_scope(tenant), self.core.sessions.begin() as session:
            session.execute(
                update(NoticeRow)
                .where(NoticeRow.id == notice_id, NoticeRow.expanded_at.is_(None))
                .values(expanded_at=self.clock(), state="sending", version=NoticeRow.version + 1)
                .execution_options(synchronize_session=False)
            )

    # -- which tenants have deliveries waiting, per channel (None: waiting for an address)

    def _due_work(self) -> dict[str | None, list[str]]:
        with system_scope(), self.core.sessions() as session:
            found = session.execute(queries.DUE_WORK, {"now": self.clock()}).all()
        work: dict[str | None, list[str]] = {}
        for tenant_id, channel, addressed in found:
            work.setdefault(channel if addressed else None, []).append(tenant_id)
        return work

    # -- 2. addressing: fallbacks and deliveries queued again

    def address_due(self, tenant: TenantId) -> int:
        now = self.clock()
        with tenant_scope(tenant), self.core.sessions.begin() as session:
            rows = session.scalars(
                select(DeliveryRow)
                .join(NoticeRow, NoticeRow.id == DeliveryRow.notice_id)
                .where(
                    DeliveryRow.state == "queued",
                    DeliveryRow.address.is_(None),
                    DeliveryRow.next_attempt_at <= now,
                    NoticeRow.state.in_(ACTIVE_NOTICE_STATES),
                )
                .order_by(DeliveryRow.next_attempt_at)
                .limit(self.batch)
                .with_for_update(of=DeliveryRow, skip_locked=True)
            ).all()
            by_notice: dict[uuid.UUID, list[DeliveryRow]] = {}
            for row in rows:
                by_notice.setdefault(row.notice_id, []).append(row)
            for notice_id, waiting in by_notice.items():
                notice = self._notice(session, notice_id)
                try:
                    found = self._people(tenant, notice, [r.recipient for r in waiting])
                except DomainError as error:
                    log.warning("addresses not found yet: %s", error.message_en)
                    for row in waiting:
                        row.next_attempt_at = now + ADDRESS_RETRY
                    continue
                window = self._window(session, tenant, notice)
                for row in waiting:
                    self._readdress(row, found.get(row.recipient), notice, window, now)
        return len(rows)

    def _people(
        self, tenant: TenantId, notice: NoticeText, keys: Iterable[str]
    ) -> dict[str, Recipient]:
        """The named recipients as they are reachable now (census asked again)."""
        audience = pb.Audience()
        for key in keys:
            kind, _, value = key.partition(":")
            if kind == "resident":
                audience.resident_ids.append(value)
            elif kind == "account":
                audience.account_subjects.append(value)
            elif kind == "role":
                audience.roles.append(value)
        return {
            r.key: r
            for r in audiences.resolve(
                self.core,
                tenant,
                audience,
                notice.channels,
                purpose=f"notice {notice.id}",
                with_phones=True,
            )
        }

    def _readdress(
        self,
        row: DeliveryRow,
        recipient: Recipient | None,
        notice: NoticeText,
        window: SendWindow,
        now: datetime,
    ) -> None:
        tried = set(row.tried_channels)
        choice = (
            audiences.choose_channel(recipient, notice.channels, skip=tried)
            if recipient is not None
            else None
        )
        if choice is not None and choice[1] != audiences.WITHHELD and recipient is not None:
            channel, address = choice
            row.channel, row.address = channel, address
            row.masked_address = recipient.masked.get(channel, "")
            row.next_attempt_at = window.due(channel, now)
            return
        row.next_attempt_at = None
        row.lease_until = None
        if tried:  # it was reached for before and every channel left has failed
            row.state = "failed"
            row.failure_reason = row.failure_reason or (
                GONE_REASON if recipient is None else UNREACHABLE_REASON
            )
            self.stats.add(failed=1)
            DELIVERY_OUTCOMES.labels(row.channel or "none", "failed").inc()
        else:
            row.state = "unreachable"
            row.channel = None
            row.failure_reason = GONE_REASON if recipient is None else UNREACHABLE_REASON

    # -- 3. sending

    def drain(
        self, channel: str, tenants: Sequence[TenantId], budget_s: float = PASS_BUDGET_S
    ) -> int:
        """Send what is due on ``channel`` for these tenants: one batch per tenant in turn,
        round after round (a tenant with a large notice does not starve the others), until
        nothing is left or ``budget_s`` is spent."""
        began = time.monotonic()
        done = 0
        active = list(tenants)
        while active and time.monotonic() - began < budget_s:
            still: list[TenantId] = []
            for tenant in active:
                moved = (
                    self.deliver_inbox(tenant) if channel == INBOX else self.send(channel, tenant)
                )
                done += moved
                if moved >= self._claim_size(channel):
                    still.append(tenant)
            active = still
        if done:
            self._wake.set()
        return done

    def deliver_inbox(self, tenant: TenantId) -> int:
        """Inbox messages and their deliveries' 'delivered', in one transaction."""
        now = self.clock()
        with tenant_scope(tenant), self.core.sessions.begin() as session:
            rows = session.execute(
                select(
                    DeliveryRow.id,
                    DeliveryRow.notice_id,
                    DeliveryRow.address,
                    DeliveryRow.recipient_name,
                )
                .join(NoticeRow, NoticeRow.id == DeliveryRow.notice_id)
                .where(
                    DeliveryRow.channel == INBOX,
                    DeliveryRow.state == "queued",
                    DeliveryRow.next_attempt_at <= now,
                    DeliveryRow.address.is_not(None),
                    NoticeRow.state.in_(ACTIVE_NOTICE_STATES),
                )
                .order_by(DeliveryRow.next_attempt_at)
                .limit(self.batch)
                .with_for_update(of=DeliveryRow, skip_locked=True)
            ).all()
            if not rows:
                return 0
            self._start_notices(session, {r.notice_id for r in rows}, now)
            entries: list[InboxEntry] = []
            refused: list[dict[str, Any]] = []
            for delivery_id, notice_id, owner, name in rows:
                notice = self._notice(session, notice_id)
                try:
                    if owner is None or not is_inbox_owner(owner):
                        raise refusal(BAD_INBOX_REASON)
                    subject, body = notice.render(name)
                except DomainError as error:
                    refused.append({"id": delivery_id, "reason": reason_of(error)})
                    continue
                entries.append(
                    InboxEntry(
                        tenant_id=tenant.value,
                        owner=owner,
                        notice_id=notice_id,
                        delivery_id=delivery_id,
                        kind=notice.kind,
                        subject=subject,
                        body=body,
                        urgent=notice.urgent,
                        case_id=notice.case_id,
                    )
                )
            store_in_inbox(session, entries, received_at=now)
            if entries:
                session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id.in_([e.delivery_id for e in entries]))
                    .values(
                        state="delivered",
                        attempts=DeliveryRow.attempts + 1,
                        sent_at=now,
                        delivered_at=now,
                        address=None,
                        failure_reason="",
                        next_attempt_at=None,
                    )
                    .execution_options(synchronize_session=False)
                )
            if refused:
                session.execute(queries.FAIL_INBOX, refused)
        self.stats.add(delivered=len(entries), failed=len(refused))
        DELIVERY_OUTCOMES.labels(INBOX, "delivered").inc(len(entries))
        return len(rows)

    def send(self, channel_name: str, tenant: TenantId) -> int:
        """Claim a batch on an outbound channel, send it, settle each outcome."""
        channel = self.channels[channel_name]
        claimed = self._claim(tenant, channel_name)
        if not claimed:
            return 0
        uncertain = sum(1 for c in claimed if c.uncertain)
        if uncertain:
            self.stats.add(resent_after_uncertain=uncertain)
            RESENT_AFTER_UNCERTAIN.labels(channel_name).inc(uncertain)
            log.warning(
                "resending after an uncertain outcome",
                extra={
                    "fields": {
                        "channel": channel_name,
                        "count": uncertain,
                        "total": self.stats.resent_after_uncertain,
                    }
                },
            )
        now = self.clock()
        with tenant_scope(tenant), self.core.sessions() as session:
            texts = {c.notice_id: self._notice(session, c.notice_id) for c in claimed}
            windows = {n: self._window(session, tenant, t) for n, t in texts.items()}
            routes = self._routes(session, claimed) if channel_name == "wecom" else {}
        # Quiet hours may have begun since these were queued: a non-urgent one waits again.
        waiting = [c for c in claimed if windows[c.notice_id].due(c.channel, now) > now]
        if waiting:
            self._defer(tenant, waiting, windows)
        ready = [c for c in claimed if windows[c.notice_id].due(c.channel, now) <= now]
        outcomes: dict[uuid.UUID, Outcome] = {}
        outgoing: list[Outgoing] = []
        # A notice's text for one name is rendered once per batch (a robot batch: once).
        rendered: dict[tuple[uuid.UUID, str], tuple[str, str]] = {}
        for row in ready:
            try:
                outgoing.append(self._outgoing(row, texts[row.notice_id], routes, rendered))
            except DomainError as error:
                outcomes[row.id] = Outcome.permanent(reason_of(error))
        if outgoing:
            for message, outcome in zip(outgoing, channel.send(outgoing), strict=True):
                outcomes[message.delivery_id] = outcome
        self._settle(tenant, ready, outcomes, texts, windows)
        return len(claimed)

    def _claim(self, tenant: TenantId, channel: str) -> list[Claimed]:
        now = self.clock()
        with tenant_scope(tenant), self.core.sessions.begin() as session:
            if channel == "wecom":
                # One robot sender claims at a time (any replica): two claims running side by
                # side would each take part of one robot's rows, and the group would get two
                # posts. Claiming is quick; the posts still go out in parallel.
                session.execute(queries.SERIALIZE_ROBOT_CLAIMS)
            found = session.execute(
                queries.CLAIM,
                {
                    "channel": channel,
                    "now": now,
                    "lease_until": now + self.lease,
                    "batch": self._claim_size(channel),
                },
            ).all()
            claimed = [
                Claimed(
                    id=r.id,
                    tenant_id=r.tenant_id,
                    notice_id=r.notice_id,
                    recipient=r.recipient,
                    recipient_name=r.recipient_name,
                    channel=channel,
                    address=r.address,
                    attempts=r.attempts,
                    tried_channels=tuple(r.tried_channels),
                    uncertain=r.was == "sending",
                )
                for r in found
            ]
            if claimed:
                self._start_notices(session, {c.notice_id for c in claimed}, now)
        return claimed

    def _claim_size(self, channel: str) -> int:
        return self.batch * ROBOT_CLAIM_BATCHES if channel == "wecom" else self.batch

    def _start_notices(self, session: Session, notice_ids: set[uuid.UUID], now: datetime) -> None:
        """A notice held whole for quiet hours is sending once its first delivery goes."""
        session.execute(
            update(NoticeRow)
            .where(NoticeRow.id.in_(notice_ids), NoticeRow.state == "scheduled")
            .values(state="sending", started_at=now, version=NoticeRow.version + 1)
            .execution_options(synchronize_session=False)
        )

    def _outgoing(
        self,
        row: Claimed,
        notice: NoticeText,
        routes: Mapping[str, str],
        rendered: dict[tuple[uuid.UUID, str], tuple[str, str]],
    ) -> Outgoing:
        # A robot posts to a group: it does not greet one person by name.
        name = "" if row.channel == "wecom" else row.recipient_name
        found = rendered.get((notice.id, name))
        if found is None:
            found = rendered[notice.id, name] = notice.render(name)
        subject, body = found
        route = ""
        if row.channel == "wecom":
            try:
                robot_id, _ = parse_wecom_address(row.address)
            except ValueError as error:
                raise refusal(f"群机器人地址无效 bad robot address: {error}") from error
            route = routes.get(robot_id, "")
        return Outgoing(
            delivery_id=row.id,
            address=row.address,
            recipient_name=name,
            subject=subject,
            body=body,
            urgent=notice.urgent,
            route=route,
        )

    def _routes(self, session: Session, claimed: Sequence[Claimed]) -> dict[str, str]:
        """Robot id → webhook URL for the robots these deliveries post through."""
        ids: set[uuid.UUID] = set()
        for row in claimed:
            try:
                ids.add(uuid.UUID(parse_wecom_address(row.address)[0]))
            except ValueError:
                continue
        if not ids:
            return {}
        return {
            str(robot_id): url
            for robot_id, url in session.execute(
                select(RobotRow.id, RobotRow.webhook_url).where(RobotRow.id.in_(ids))
            )
        }

    def _defer(
        self, tenant: TenantId, rows: Sequence[Claimed], windows: Mapping[uuid.UUID, SendWindow]
    ) -> None:
        now = self.clock()
        params = [
            {
                "id": r.id,
                "claimed": r.attempts,
                "next": windows[r.notice_id].due(r.channel, now),
            }
            for r in rows
        ]
        with tenant_scope(tenant), self.core.sessions.begin() as session:
            session.execute(queries.DEFER, params)
        self.stats.add(deferred=len(rows))
        DELIVERY_OUTCOMES.labels(rows[0].channel, "deferred").inc(len(rows))

    def _settle(
        self,
        tenant: TenantId,
        rows: Sequence[Claimed],
        outcomes: Mapping[uuid.UUID, Outcome],
        texts: Mapping[uuid.UUID, NoticeText],
        windows: Mapping[uuid.UUID, SendWindow],
    ) -> None:
        if not rows:
            return
        now = self.clock()
        tally: dict[str, int] = {}
        accepted_sms: list[Claimed] = []
        settled = [
            settle(
                row,
                outcomes.get(row.id, Outcome.retry("未发送 not sent")),
                notice_channels=texts[row.notice_id].channels,
                window=windows[row.notice_id],
                policy=self.policy,
                now=now,
                rng=self.rng,
            )
            for row in rows
        ]
        for row, done in zip(rows, settled, strict=True):
            tally[done.word] = tally.get(done.word, 0) + 1
            if done.state == "sent" and row.channel == "sms":
                accepted_sms.append(row)
        with tenant_scope(tenant), self.core.sessions.begin() as session:
            settling = _settlements(rows, settled)
            changed = session.connection().execute(queries.SETTLE, settling).rowcount
        if self.receipts is not None:
            for row in accepted_sms:
                self.receipts.expect(row.tenant_id, row.id, now)
        if changed != len(rows):
            # Another replica took some over after our lease ran out: its outcome stands.
            log.warning(
                "lease lost while sending",
                extra={"fields": {"expected": len(rows), "settled": changed}},
            )
        self.stats.add(
            sent=tally.get("sent", 0),
            delivered=tally.get("delivered", 0),
            retried=tally.get("retry", 0),
            fell_back=tally.get("fallback", 0),
            failed=tally.get("failed", 0),
        )
        for word, number in tally.items():
            DELIVERY_OUTCOMES.labels(rows[0].channel, word).inc(number)

    # -- notices' texts and windows

    def _remember(self, row: NoticeRow) -> NoticeText:
        found = NoticeText.of(row)
        with self._notices_lock:
            if len(self._notices) > 1024:
                self._notices.clear()
            self._notices[row.id] = found
        return found

    def _notice(self, session: Session, notice_id: uuid.UUID) -> NoticeText:
        with self._notices_lock:
            known = self._notices.get(notice_id)
        if known is not None:
            return known
        row = session.get(NoticeRow, notice_id)
        if row is None:
            raise refusal("通知不存在 notice not found")
        return self._remember(row)

    def _window(self, session: Session, tenant: TenantId, notice: NoticeText) -> SendWindow:
        quiet = preferences.quiet_hours(self.core.sessions, session, tenant, self.core.settings)
        return SendWindow(urgent=notice.urgent, quiet_start=quiet.start, quiet_end=quiet.end)


def _new_deliveries(
    notice: NoticeText, rows: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, Any]:
    """A batch of first deliveries as the columns ``queries.NEW_DELIVERIES`` unnests."""
    return {
        "tenant_id": notice.tenant_id,
        "notice_id": notice.id,
        "created_at": now,
        "recipients": [r["recipient"] for r in rows],
        "names": [r["recipient_name"] for r in rows],
        "channels": [r["channel"] for r in rows],
        "addresses": [r["address"] for r in rows],
        "masked": [r["masked_address"] for r in rows],
        "states": [r["state"] for r in rows],
        "next_attempts": [r["next_attempt_at"] for r in rows],
        "reasons": [r["failure_reason"] for r in rows],
    }


def _settlements(rows: Sequence[Claimed], settled: Sequence[Settlement]) -> dict[str, Any]:
    """Claimed rows and their outcomes as the columns ``queries.SETTLE`` unnests."""
    return {
        "ids": [r.id for r in rows],
        "claimed": [r.attempts for r in rows],
        "states": [s.state for s in settled],
        "next_attempts": [s.next_attempt_at for s in settled],
        "attempts": [s.attempts for s in settled],
        "addresses": [s.address for s in settled],
        "tried": [",".join(s.tried_channels) for s in settled],
        "reasons": [s.failure_reason for s in settled],
        "provider_refs": [s.provider_ref for s in settled],
        "sent_at": [s.sent_at for s in settled],
        "delivered_at": [s.delivered_at for s in settled],
    }


def _limit(rate_per_s: float) -> TokenBuckets:
    """A channel's rate limit; zero or less in the settings means none."""
    return TokenBuckets(rate_per_s if rate_per_s > 0 else None)
