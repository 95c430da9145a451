"""E-mail over SMTP: a batch over a few connections at once, one MAIL/RCPT/DATA exchange per
message.

The Message-ID is ``<delivery-id@shequ.notify>``, so a message resent after an uncertain outcome
(the dispatcher died after the server's 250 but before its own commit) is the same message: a
mailbox keeps one copy per Message-ID.
"""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from notify.channels.base import Outcome, Outgoing
from notify.ratelimit import TokenBuckets

MESSAGE_ID_DOMAIN = "shequ.notify"
# A batch is sent over at most this many connections at once, each carrying at least
# MESSAGES_PER_CONNECTION messages (a connection's EHLO is not worth it for fewer).
CONNECTIONS = 8
MESSAGES_PER_CONNECTION = 10


def message_id(delivery_id: uuid.UUID) -> str:
    return f"<{delivery_id}@{MESSAGE_ID_DOMAIN}>"


def compose(message: Outgoing, sender: str) -> EmailMessage:
    """A UTF-8 text/plain message; non-ASCII headers are encoded (RFC 2047) on the way out.

    ValueError when the address is not one an e-mail header can carry.
    """
    local, at, domain = message.address.strip().rpartition("@")
    if not at or not local or not domain or parseaddr(message.address)[1] != message.address:
        raise ValueError(f"not an e-mail address: {message.address!r}")
    mail = EmailMessage()
    mail["Message-ID"] = message_id(message.delivery_id)
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["From"] = sender
    mail["To"] = Address(display_name=message.recipient_name, username=local, domain=domain)
    mail["Subject"] = message.subject
    if message.urgent:
        mail["Importance"] = "high"
    mail.set_content(message.body, charset="utf-8")
    return mail


class EmailChannel:
    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        timeout_s: float,
        limiter: TokenBuckets,
        batch_size: int = 50,
        connections: int = CONNECTIONS,
    ) -> None:
        self.host, self.port, self.sender, self.timeout_s = host, port, sender, timeout_s
        self.limiter = limiter
        self.batch_size = batch_size
        self.connections = max(1, connections)

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        # SMTP answers one message at a time, so a large batch is split over a few connections
        # sending at once (the rate limit is shared); each part keeps the batch's order.
        size = max(MESSAGES_PER_CONNECTION, -(-len(messages) // self.connections))
        parts = [messages[start : start + size] for start in range(0, len(messages), size)]
        if len(parts) < 2:
            return self._send_over_one(messages)
        with ThreadPoolExecutor(len(parts)) as pool:
            return [outcome for part in pool.map(self._send_over_one, parts) for outcome in part]

    def _send_over_one(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """Messages over one connection: EHLO, then MAIL/RCPT/DATA per message."""
        outcomes: list[Outcome] = []
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.ehlo()
                for message in messages:
                    self.limiter.acquire(self.name)
                    outcomes.append(self._send_one(smtp, message))
        except (OSError, smtplib.SMTPException) as error:
            # The connection is gone: what was not answered yet is tried again later (with the
            # same Message-ID, so a message the server did take is not doubled).
            lost = Outcome.retry(f"邮件服务器连接中断 SMTP connection failed: {error}")
            outcomes += [lost] * (len(messages) - len(outcomes))
        return outcomes

    def _send_one(self, smtp: smtplib.SMTP, message: Outgoing) -> Outcome:
        try:
            mail = compose(message, self.sender)
        except ValueError as error:
            return Outcome.permanent(f"邮箱地址无效 invalid e-mail address: {error}")
        try:
            smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as refused:
            code, reply = next(iter(refused.recipients.values()))
            return _by_code(code, reply, "收件人被拒绝 recipient refused")
        except smtplib.SMTPDataError as error:
            return _by_code(error.smtp_code, error.smtp_error, "邮件被拒收 message refused")
        except smtplib.SMTPSenderRefused as error:
            # Our own sender address was refused: no other recipient's channel would help.
            return Outcome.retry(f"发件人被拒绝 sender refused: {error.smtp_code}")
        except smtplib.SMTPNotSupportedError as error:
            return Outcome.permanent(f"邮件服务器不支持该地址 address not supported: {error}")
        return Outcome.sent(str(mail["Message-ID"]))


def _by_code(code: int, reply: bytes | str, what: str) -> Outcome:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    reason = f"{what}: {code} {text}".strip()
    # 5xx is the server's final word on this message; 4xx asks to try again later.
    return Outcome.permanent(reason) if 500 <= code < 600 else Outcome.retry(reason)
