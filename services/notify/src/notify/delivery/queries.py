"""The dispatcher's SQL where the ORM would only obscure it: the claim (a CTE that locks with
SKIP LOCKED and tells an uncertain outcome by the state it found), the guarded settle, and the
discovery queries. They run in transactions bound to one tenant (row-level security applies),
except the discovery ones, which run in ``system_scope``."""

from __future__ import annotations

from sqlalchemy import ARRAY, Text, bindparam, text

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

# A claimed row's outcome, unless another dispatcher has claimed it since (lease ran out).
SETTLE = text(
    """
    UPDATE deliveries SET
        state = :state,
        lease_until = NULL,
        next_attempt_at = :next_attempt_at,
        attempts = :attempts,
        address = :address,
        tried_channels = :tried_channels,
        failure_reason = :failure_reason,
        provider_ref = :provider_ref,
        sent_at = COALESCE(:sent_at, sent_at),
        delivered_at = COALESCE(:delivered_at, delivered_at)
    WHERE id = :id AND state = 'sending' AND attempts = :claimed
    """
).bindparams(bindparam("tried_channels", type_=ARRAY(Text)))

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
