"""The dispatcher's SQL where the ORM would only obscure it: the claim (a CTE that locks with
SKIP LOCKED and tells an uncertain outcome by the state it found), the guarded settle, and the
discovery queries. They run in transactions bound to one tenant (row-level security applies),
except the discovery ones, which run in ``system_scope``."""

from __future__ import annotations

from sqlalchemy import text

# Which tenants have deliveries due, on which channel, and whether they still need an address.
DUE_WORK = text(
    """
    SELECT DISTINCT tenant_id, channel, address IS NOT NULL AS addressed
    FROM deliveries
    WHERE state IN ('queued', 'sending') AND next_attempt_at <= :now
      AND (state = 'queued' OR lease_until < :now)
    """
)

# Due rows of one channel (queued, or 'sending' whose dispatcher's lease ran out), of notices
# still going out, claimed for this dispatcher; ``was`` tells an uncertain outcome.
# A group robot may post about 20 times a minute, so its deliveries wait until the whole
# audience is known and are taken robot by robot: one post then mentions everyone of that
# group instead of a few per post (which ran a 10,000-resident notice into the limit for 50 s).
CLAIM = text(
    """
    WITH picked AS (
        SELECT d.id, d.state AS was
        FROM deliveries d JOIN notices n ON n.id = d.notice_id
        WHERE d.channel = :channel
          AND d.state IN ('queued', 'sending')
          AND d.next_attempt_at <= :now
          AND d.address IS NOT NULL
          AND (d.state = 'queued' OR d.lease_until < :now)
          AND n.state IN ('scheduled', 'sending')
          AND (d.channel <> 'wecom' OR n.expanded_at IS NOT NULL)
        ORDER BY CASE WHEN d.channel = 'wecom' THEN d.address END, d.next_attempt_at
        LIMIT :batch
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE deliveries d
    SET state = 'sending', attempts = d.attempts + 1, lease_until = :lease_until
    FROM picked
    WHERE d.id = picked.id
    RETURNING d.id, d.tenant_id, d.notice_id, d.recipient, d.recipient_name, d.address,
              d.attempts, d.tried_channels, picked.was
    """
)

# Held until the claiming transaction ends; the key is notify's own (hashtext of a fixed name).
SERIALIZE_ROBOT_CLAIMS = text("SELECT pg_advisory_xact_lock(hashtext('shequ.notify.robot-claims'))")

# A batch of claimed rows' outcomes in one statement (arrays unnested server-side), each row
# unless another dispatcher has claimed it since (its lease ran out): ``rowcount`` tells.
# ``tried`` is each row's tried channels joined by "," (channel words have none); an empty
# text is the empty list.
SETTLE = text(
    """
    UPDATE deliveries d SET
        state = s.state,
        lease_until = NULL,
        next_attempt_at = s.next_attempt_at,
        attempts = s.attempts,
        address = s.address,
        tried_channels = string_to_array(s.tried, ','),
        failure_reason = s.failure_reason,
        provider_ref = s.provider_ref,
        sent_at = COALESCE(s.sent_at, d.sent_at),
        delivered_at = COALESCE(s.delivered_at, d.delivered_at)
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:claimed AS integer[]), CAST(:states AS text[]),
        CAST(:next_attempts AS timestamptz[]), CAST(:attempts AS integer[]),
        CAST(:addresses AS text[]), CAST(:tried AS text[]), CAST(:reasons AS text[]),
        CAST(:provider_refs AS text[]), CAST(:sent_at AS timestamptz[]),
        CAST(:delivered_at AS timestamptz[])
    ) AS s(id, claimed, state, next_attempt_at, attempts, address, tried, failure_reason,
           provider_ref, sent_at, delivered_at)
    WHERE d.id = s.id AND d.state = 'sending' AND d.attempts = s.claimed
    """
)

# One batch of a notice's deliveries as its audience streams in, in one statement (arrays
# unnested server-side, the cheapest way to write thousands of rows short of COPY). A person
# already written (a crash mid-expansion, expanded again) is skipped: a person is one row.
NEW_DELIVERIES = text(
    """
    INSERT INTO deliveries (
        id, tenant_id, notice_id, recipient, recipient_name, channel, address, masked_address,
        state, attempts, next_attempt_at, failure_reason, tried_channels, created_at
    )
    SELECT gen_random_uuid(), :tenant_id, :notice_id, n.recipient, n.recipient_name,
           n.channel, n.address, n.masked_address, n.state, 0, n.next_attempt_at,
           n.failure_reason, '{}', :created_at
    FROM unnest(
        CAST(:recipients AS text[]), CAST(:names AS text[]), CAST(:channels AS text[]),
        CAST(:addresses AS text[]), CAST(:masked AS text[]), CAST(:states AS text[]),
        CAST(:next_attempts AS timestamptz[]), CAST(:reasons AS text[])
    ) AS n(recipient, recipient_name, channel, address, masked_address, state, next_attempt_at,
           failure_reason)
    ON CONFLICT (notice_id, recipient) DO NOTHING
    """
)

# Claimed in quiet hours: back in the queue without spending an attempt.
DEFER = text(
    """
    UPDATE deliveries
    SET state = 'queued', attempts = attempts - 1, lease_until = NULL, next_attempt_at = :next
    WHERE id = :id AND state = 'sending' AND attempts = :claimed
    """
)

FAIL_INBOX = text(
    """
    UPDATE deliveries
    SET state = 'failed', failure_reason = :reason, address = NULL, next_attempt_at = NULL
    WHERE id = :id AND state = 'queued'
    """
)

FAIL_SENT = text(
    """
    UPDATE deliveries SET state = 'failed', failure_reason = :reason
    WHERE id = :id AND state = 'sent'
    """
)

CANCELLED_WITH_PENDING = text(
    """
    SELECT DISTINCT d.tenant_id, d.notice_id
    FROM deliveries d JOIN notices n ON n.id = d.notice_id
    WHERE d.state IN ('queued', 'sending') AND n.state = 'cancelled'
    """
)

# Expanded notices with nothing pending any more.
FINISHABLE = text(
    """
    SELECT n.id, n.tenant_id FROM notices n
    WHERE n.state IN ('scheduled', 'sending') AND n.expanded_at IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM deliveries d
          WHERE d.notice_id = n.id AND d.state IN ('queued', 'sending')
      )
    LIMIT :limit
    """
)
