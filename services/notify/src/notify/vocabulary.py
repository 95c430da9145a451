"""The words notify stores and publishes for the proto's enums, and their Chinese labels.

Tables hold words ("sms", "anti_fraud", "queued"), never proto numbers: a row stays readable
in psql and across proto changes. Each mapping is word → proto value; ``word_of`` and
``value_of`` translate at the boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from shequ.notify.v1 import notify_pb2 as pb

CHANNELS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "inbox": pb.CHANNEL_INBOX,
        "email": pb.CHANNEL_EMAIL,
        "wecom": pb.CHANNEL_WECOM,
        "sms": pb.CHANNEL_SMS,
    }
)
CHANNEL_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {"inbox": "站内信", "email": "电子邮件", "wecom": "企业微信群", "sms": "短信"}
)
KINDS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "anti_fraud": pb.NOTICE_KIND_ANTI_FRAUD,
        "event": pb.NOTICE_KIND_EVENT,
        "meeting": pb.NOTICE_KIND_MEETING,
        "general": pb.NOTICE_KIND_GENERAL,
        "case_update": pb.NOTICE_KIND_CASE_UPDATE,
    }
)
NOTICE_STATES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "scheduled": pb.NOTICE_STATE_SCHEDULED,
        "sending": pb.NOTICE_STATE_SENDING,
        "sent": pb.NOTICE_STATE_SENT,
        "cancelled": pb.NOTICE_STATE_CANCELLED,
    }
)
NOTICE_STATE_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {"scheduled": "待发送", "sending": "发送中", "sent": "已发送", "cancelled": "已取消"}
)
DELIVERY_STATES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "queued": pb.DELIVERY_STATE_QUEUED,
        "sending": pb.DELIVERY_STATE_QUEUED,  # claimed by a dispatcher: still on its way
        "sent": pb.DELIVERY_STATE_SENT,
        "delivered": pb.DELIVERY_STATE_DELIVERED,
        "failed": pb.DELIVERY_STATE_FAILED,
        "unreachable": pb.DELIVERY_STATE_UNREACHABLE,
    }
)


def value_of(words: Mapping[str, int], word: str | None) -> int:
    """The proto value of a stored word (UNSPECIFIED, 0, for None or a word not listed)."""
    return words.get(word, 0) if word is not None else 0


def word_of(words: Mapping[str, int], value: int) -> str | None:
    """The word of a proto value; None for UNSPECIFIED or a value not listed."""
    for word, known in words.items():
        if known == value and value:
            return word
    return None
