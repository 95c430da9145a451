"""The one small interface every outbound channel implements.

A channel takes a batch of messages and answers one outcome per message, in the same order. It
never raises for a refused message or a broken connection: those are outcomes (``retry`` when
trying again later may work, ``permanent`` when it cannot). Every message carries its delivery
id, which the channel hands to the provider as the idempotency key (SMS OutId, e-mail
Message-ID), so resending after an uncertain outcome cannot reach a person twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to one person (or, for a robot, one @mention in a group post)."""

    delivery_id: uuid.UUID
    # The clear address on this channel: e-mail, phone, "<robot id>:<phone>".
    address: str
    recipient_name: str
    subject: str
    body: str
    urgent: bool = False
    # Where the message is posted when the address alone does not say (a robot's webhook URL).
    route: str = ""


class OutcomeKind(StrEnum):
    SENT = "sent"  # accepted by the channel; a receipt may follow
    DELIVERED = "delivered"  # the person (or the group) has it
    RETRY = "retry"  # not now: throttled, connection lost, temporary refusal
    PERMANENT = "permanent"  # never on this address: the next channel may work


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    provider_ref: str = ""
    # Chinese first, then English; stored as the delivery's failure reason.
    reason: str = ""

    @classmethod
    def sent(cls, provider_ref: str) -> Outcome:
        return cls(OutcomeKind.SENT, provider_ref=provider_ref)

    @classmethod
    def delivered(cls, provider_ref: str = "") -> Outcome:
        return cls(OutcomeKind.DELIVERED, provider_ref=provider_ref)

    @classmethod
    def retry(cls, reason: str) -> Outcome:
        return cls(OutcomeKind.RETRY, reason=reason)

    @classmethod
    def permanent(cls, reason: str) -> Outcome:
        return cls(OutcomeKind.PERMANENT, reason=reason)


class Channel(Protocol):
    """An outbound channel: e-mail, group robot, SMS."""

    name: str
    batch_size: int

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """One outcome per message, in order; waits for the channel's rate limit."""
        ...


class ReceiptSource(Protocol):
    """A channel whose acceptance is followed by a status report (SMS)."""

    def receipts(self, delivery_ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, Outcome]:
        """Final outcomes known so far (delivered or permanent); pending ones are left out."""
        ...


def every(messages: Sequence[Outgoing], outcome: Outcome) -> list[Outcome]:
    """The same outcome for a whole batch (a lost connection, a throttled request)."""
    return [outcome] * len(messages)
