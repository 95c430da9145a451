"""The dispatcher: ``python -m notify dispatch``, as many replicas as wanted.

One pass, each step taking its rows with ``FOR UPDATE SKIP LOCKED`` so replicas share the work:

1. **Expand** a due notice: resolve its audience through census and grid, and write one
   delivery per person on the first channel that reaches them (UNIQUE (notice, recipient): a
   person is one row, on one channel at a time), all in one transaction. Non-urgent e-mail,
   robot and SMS deliveries created in the tenant's quiet hours wait for them to end; the
   in-app inbox is silent and never waits.
2. **Address** queued rows without an address (a fallback to the next channel, or a failed
   delivery queued again: clear addresses are dropped once a delivery is final) by resolving
   those people again.
3. **Send**, per channel in parallel: claim due rows (state 'sending', attempts + 1, a lease),
   commit, hand them to the channel with the delivery id as the provider's idempotency key,
   then settle each: sent / delivered / retried later with exponential backoff and jitter /
   fallen back to the next channel / failed. A row found 'sending' with an expired lease (a
   dispatcher died between the provider's acceptance and its own commit) is sent again with
   the same key, so the provider drops the repeat; those resends are counted and logged. The
   inbox needs no lease: its messages and the deliveries commit in one transaction.
4. **Receipts**: SMS status reports turn 'sent' into 'delivered' or 'failed'.
5. **Finish** notices with nothing pending: 'sent', NoticeSent (with counts) in the outbox,
   clear addresses gone.

Discovery ("which tenants have work") reads across tenants in ``system_scope``; every write is
made in a transaction bound to the row's tenant.
"""

from notify.delivery.dispatcher import Dispatcher, run_forever, run_once
from notify.delivery.rules import (
    CANCELLED_REASON,
    GONE_REASON,
    UNREACHABLE_REASON,
    DispatchStats,
    RetryPolicy,
    SendWindow,
    settle,
)

__all__ = [
    "CANCELLED_REASON",
    "GONE_REASON",
    "UNREACHABLE_REASON",
    "DispatchStats",
    "Dispatcher",
    "RetryPolicy",
    "SendWindow",
    "run_forever",
    "run_once",
    "settle",
]
