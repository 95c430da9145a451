"""Local sinks for notify's outbound channels: a real SMTP server and one HTTP server that plays
the WeChat-Work-style group robot webhook and the SMS provider — for tests, `make bench` and
`make run`.

Each speaks its protocol as documented, so the adapters are tested against the protocol rather
than against themselves:
- SMTP (aiosmtpd): a mailbox keeps one copy per Message-ID, as IMAP stores do; every reception
  is also counted, so a resend shows up as ``raw > unique``.
- Robot webhook ``POST /cgi-bin/webhook/send?key=KEY`` with the robot JSON (errcode 0 / 45009
  rate limited / 93000 invalid key); posts are kept per key with their @mentions.
- SMS provider ``POST /sms`` in the style of Alibaba Cloud's dysmsapi RPC API: the request
  signature (HMAC-SHA1 over the sorted, percent-encoded parameters) is checked
  (``SignatureDoesNotMatch``, HTTP 400), a nonce is accepted once, ``SendBatchSms`` drops a
  repeated OutId (the provider's idempotency) and ``QuerySendStatus`` reports DELIVERED for
  what it accepted.
- ``GET /messages``: what arrived, as JSON, for people trying `make run`.

Faults can be injected while running (``sinks.faults``): throttled answers (the next N requests
or a random fraction), phones the provider refuses for good, phones whose report says FAILED,
invalid robot keys, refused or temporarily failing mailboxes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# notify's local defaults (NotifySettings): the ports `make run` gives the sinks, and the SMS
# account the local provider accepts.
DEFAULT_SMTP_PORT = 2525
DEFAULT_HTTP_PORT = 8025
LOCAL_SMS_KEYS: Mapping[str, str] = {"local-dev-sms": "local-dev-sms-secret"}
# The provider refuses a request whose Timestamp is this far from its clock.
TIMESTAMP_TOLERANCE = timedelta(minutes=15)
MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LATEST_SHOWN = 50
_SIGNED_REQUIRED = (
    "AccessKeyId",
    "Action",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Timestamp",
    "Version",
    "Signature",
)
_START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class StoredEmail:
    message_id: str
    mail_from: str
    to: tuple[str, ...]
    subject: str
    body: str


@dataclass(frozen=True)
class RobotPost:
    key: str
    content: str
    mentions: tuple[str, ...]
    # From the X-Shequ-Delivery header: which deliveries the post carried.
    delivery_ids: tuple[str, ...]


@dataclass(frozen=True)
class StoredSms:
    phone: str
    out_id: str
    sign_name: str
    content: str
    biz_id: str


@dataclass
class Faults:
    """What the sinks do wrong on purpose; change the fields while the sinks run."""

    sms_throttle_next: int = 0  # the next N SendBatchSms requests answer Throttling.User
    sms_throttle_fraction: float = 0.0  # and this random share of the others
    sms_refused_phones: set[str] = field(default_factory=set)  # isv.MOBILE_NUMBER_ILLEGAL
    sms_undelivered_phones: set[str] = field(default_factory=set)  # accepted, report FAILED
    robot_throttle_next: int = 0  # errcode 45009
    robot_invalid_keys: set[str] = field(default_factory=set)  # errcode 93000
    smtp_refused: set[str] = field(default_factory=set)  # 550 at RCPT
    smtp_tempfail_next: int = 0  # 451 at RCPT for the next N recipients
    seed: int = 7

    def clear(self) -> None:
        """Back to no faults (in place: the running servers hold this object)."""
        for name, value in vars(Faults()).items():
            setattr(self, name, value)


class SinkRecords:
    """Everything that arrived; safe to read from any thread while the sinks run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._emails: dict[str, StoredEmail] = {}
            self._email_receptions: Counter[str] = Counter()
            self._robot_posts: list[RobotPost] = []
            self._sms: dict[str, list[StoredSms]] = defaultdict(list)
            self._sms_out_ids: dict[str, str] = {}
            self._sms_submissions = 0
            self._sms_repeats_dropped = 0
            self._sms_refused = 0
            self._throttled = 0
            self._signature_refusals = 0

    # -- written by the servers
    def add_email(self, email: StoredEmail) -> None:
        with self._lock:
            self._email_receptions[email.message_id] += 1
            self._emails.setdefault(email.message_id, email)

    def add_robot_post(self, post: RobotPost) -> None:
        with self._lock:
            self._robot_posts.append(post)

    def accept_sms(self, sms: StoredSms) -> bool:
        """Stores it unless its OutId was accepted before; True when stored."""
        with self._lock:
            if sms.out_id and sms.out_id in self._sms_out_ids:
                self._sms_repeats_dropped += 1
                return False
            if sms.out_id:
                self._sms_out_ids[sms.out_id] = sms.phone
            self._sms[sms.phone].append(sms)
            return True

    def count(self, what: str) -> None:
        with self._lock:
            if what == "sms_submission":
                self._sms_submissions += 1
            elif what == "sms_refused":
                self._sms_refused += 1
            elif what == "throttled":
                self._throttled += 1
            elif what == "signature_refused":
                self._signature_refusals += 1

    def sms_phone_of(self, out_id: str) -> str | None:
        with self._lock:
            return self._sms_out_ids.get(out_id)

    # -- read by tests
    def emails(self) -> dict[str, StoredEmail]:
        """The mailbox: one message per Message-ID."""
        with self._lock:
            return dict(self._emails)

    def emails_to(self, address: str) -> list[StoredEmail]:
        with self._lock:
            return [e for e in self._emails.values() if address in e.to]

    @property
    def email_raw_count(self) -> int:
        """Every DATA the server accepted, repeated Message-IDs included."""
        with self._lock:
            return sum(self._email_receptions.values())

    def email_receptions(self) -> Counter[str]:
        with self._lock:
            return Counter(self._email_receptions)

    def robot_posts(self, key: str | None = None) -> list[RobotPost]:
        with self._lock:
            return [p for p in self._robot_posts if key is None or p.key == key]

    def sms_by_phone(self) -> dict[str, list[StoredSms]]:
        with self._lock:
            return {phone: list(messages) for phone, messages in self._sms.items()}

    def sms_to(self, phone: str) -> list[StoredSms]:
        with self._lock:
            return list(self._sms.get(phone, ()))

    @property
    def sms_submissions(self) -> int:
        """SendBatchSms requests that passed the signature check."""
        with self._lock:
            return self._sms_submissions

    @property
    def sms_repeats_dropped(self) -> int:
        with self._lock:
            return self._sms_repeats_dropped

    @property
    def throttled(self) -> int:
        with self._lock:
            return self._throttled

    @property
    def signature_refusals(self) -> int:
        with self._lock:
            return self._signature_refusals

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /messages`` answers: counts, and the latest few of each kind."""
        with self._lock:
            emails = list(self._emails.values())
            posts = list(self._robot_posts)
            sms = [m for messages in self._sms.values() for m in messages]
            return {
                "emails": {
                    "unique": len(emails),
                    "raw": sum(self._email_receptions.values()),
                    "latest": [asdict(e) for e in emails[-_LATEST_SHOWN:]],
                },
                "robot_posts": {
                    "count": len(posts),
                    "by_key": dict(Counter(p.key for p in posts)),
                    "latest": [asdict(p) for p in posts[-_LATEST_SHOWN:]],
                },
                "sms": {
                    "accepted": len(sms),
                    "phones": len(self._sms),
                    "submissions": self._sms_submissions,
                    "repeats_dropped": self._sms_repeats_dropped,
                    "refused": self._sms_refused,
                    "latest": [asdict(m) for m in sms[-_LATEST_SHOWN:]],
                },
                "throttled": self._throttled,
                "signature_refusals": self._signature_refusals,
            }


@dataclass
class Sinks:
    """Where the running sinks listen, what arrived, and the faults to inject."""

    smtp_host: str
    smtp_port: int
    http_url: str
    records: SinkRecords
    faults: Faults
    sms_access_key_id: str
    sms_access_key_secret: str

    @property
    def sms_endpoint(self) -> str:
        return f"{self.http_url}/sms"

    @property
    def webhook_base(self) -> str:
        """Append a robot's key: ``webhook_base + "shibei-1"``."""
        return f"{self.http_url}/cgi-bin/webhook/send?key="

    def webhook_url(self, key: str) -> str:
        return self.webhook_base + key

    def reset(self) -> None:
        """Forget what arrived and clear the faults (between tests sharing the sinks)."""
        self.records.reset()
        self.faults.clear()


class _Dice:
    """Seeded randomness and one-shot counters for the faults, under one lock."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)  # noqa: S311 - fault injection, not secrets
        self._lock = threading.Lock()

    def take(self, counter: str, fraction: float = 0.0) -> bool:
        with self._lock:
            left = int(getattr(self.faults, counter))
            if left > 0:
                setattr(self.faults, counter, left - 1)
                return True
            return fraction > 0 and self._random.random() < fraction


# -- SMTP


class _Mailbox:
    """aiosmtpd handler: refuses or defers recipients as the faults say, stores the rest."""

    def __init__(self, records: SinkRecords, dice: _Dice) -> None:
        self.records, self.dice = records, dice

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        _options: list[str],
    ) -> str:
        if address in self.dice.faults.smtp_refused:
            return "550 5.1.1 Mailbox unavailable"
        if self.dice.take("smtp_tempfail_next"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        # policy.default parses into EmailMessage (decoded headers, get_body/get_content).
        data = raw if isinstance(raw, bytes) else raw.encode()
        # SMTP carries CRLF lines; the stored text has plain newlines.
        message = BytesParser(policy=policy.default).parsebytes(data.replace(b"\r\n", b"\n"))
        message_id = str(message.get("Message-ID", "")).strip()
        if not message_id:
            return "554 5.6.0 Message-ID required"
        body_part = message.get_body(preferencelist=("plain",))
        body = body_part.get_content() if isinstance(body_part, EmailMessage) else ""
        self.records.add_email(
            StoredEmail(
                message_id=message_id,
                mail_from=str(envelope.mail_from or ""),
                to=tuple(envelope.rcpt_tos),
                subject=str(message.get("Subject", "")),
                body=str(body).rstrip("\n"),
            )
        )
        return "250 Message accepted for delivery"


# -- the SMS provider's signature, written from its documentation (Java URLEncoder + fixes)


def _pop_encode(text: str) -> str:
    return quote_plus(text, encoding="utf-8").replace("+", "%20").replace("%7E", "~")


def provider_signature(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """Signature of an RPC-style request, as the provider computes it to compare."""
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    query = "&".join(f"{_pop_encode(k)}={_pop_encode(v)}" for k, v in pairs)
    string_to_sign = method + "&" + _pop_encode("/") + "&" + _pop_encode(query)
    mac = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _provider_error(code: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper()},
        status_code=status,
    )


class _HttpSinks:
    """The robot webhook and the SMS provider as one Starlette app."""

    def __init__(self, records: SinkRecords, dice: _Dice, sms_keys: Mapping[str, str]) -> None:
        self.records, self.dice, self.sms_keys = records, dice, dict(sms_keys)
        self._nonces: set[str] = set()
        self._nonce_lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/cgi-bin/webhook/send", self.robot, methods=["POST"]),
                Route("/sms", self.sms, methods=["POST"]),
                Route("/messages", self.messages, methods=["GET"]),
            ]
        )

    async def messages(self, _request: Request) -> JSONResponse:
        return JSONResponse(self.records.snapshot())

    async def robot(self, request: Request) -> JSONResponse:
        key = request.query_params.get("key", "")
        if not key or key in self.dice.faults.robot_invalid_keys:
            return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
        try:
            payload = json.loads(await request.body())
            text = payload["text"]
            content = str(text["content"])
            mentions = tuple(str(m) for m in text.get("mentioned_mobile_list") or ())
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
        if payload.get("msgtype") != "text":
            return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
        if not content:
            return JSONResponse({"errcode": 44004, "errmsg": "empty content"})
        if self.dice.take("robot_throttle_next"):
            self.records.count("throttled")
            return JSONResponse({"errcode": 45009, "errmsg": "api freq out of limit"})
        header = request.headers.get("x-shequ-delivery", "")
        self.records.add_robot_post(
            RobotPost(
                key=key,
                content=content,
                mentions=mentions,
                delivery_ids=tuple(i for i in header.split(",") if i),
            )
        )
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def sms(self, request: Request) -> JSONResponse:
        params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        refusal = self._check_request(params)
        if refusal is not None:
            return refusal
        action = params.get("Action")
        if action == "SendBatchSms":
            return self._send_batch(params)
        if action == "QuerySendStatus":
            return self._query_status(params)
        return _provider_error("InvalidAction.NotFound", f"unknown action {action!r}", 404)

    def _check_request(self, params: Mapping[str, str]) -> JSONResponse | None:
        """The provider's refusal of a request (missing fields, signature, replay), if any."""
        missing = [name for name in _SIGNED_REQUIRED if not params.get(name)]
        if missing:
            return _provider_error("MissingParameter", f"missing {', '.join(missing)}")
        return self._check_signature(params) or self._check_freshness(params)

    def _check_signature(self, params: Mapping[str, str]) -> JSONResponse | None:
        secret = self.sms_keys.get(params["AccessKeyId"])
        if secret is None:
            return _provider_error(
                "InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404
            )
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            return _provider_error("InvalidSignatureMethod", "HMAC-SHA1 1.0 only")
        if not hmac.compare_digest(provider_signature(params, secret), params["Signature"]):
            self.records.count("signature_refused")
            return _provider_error(
                "SignatureDoesNotMatch", "Specified signature does not match our calculation."
            )
        return None

    def _check_freshness(self, params: Mapping[str, str]) -> JSONResponse | None:
        try:
            stamped = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return _provider_error("InvalidTimeStamp.Format", "Timestamp must be ISO 8601 UTC")
        if abs(datetime.now(UTC) - stamped.replace(tzinfo=UTC)) > TIMESTAMP_TOLERANCE:
            return _provider_error("InvalidTimeStamp.Expired", "Timestamp is out of range")
        with self._nonce_lock:
            if params["SignatureNonce"] in self._nonces:
                return _provider_error("SignatureNonceUsed", "Specified nonce was used already.")
            self._nonces.add(params["SignatureNonce"])
        return None

    def _send_batch(self, params: Mapping[str, str]) -> JSONResponse:
        try:
            phones = [str(p) for p in json.loads(params["PhoneNumberJson"])]
            signs = [str(s) for s in json.loads(params["SignNameJson"])]
            texts = [dict(t) for t in json.loads(params.get("TemplateParamJson") or "[]")]
            out_ids = [str(o) for o in json.loads(params.get("OutIdJson") or "[]")]
        except (KeyError, ValueError, TypeError):
            return _provider_error("isv.INVALID_PARAMETERS", "malformed JSON parameters")
        if not params.get("TemplateCode"):
            return _provider_error("isv.INVALID_PARAMETERS", "TemplateCode required")
        if not phones or len(phones) > 100 or len(signs) != len(phones):
            return _provider_error("isv.INVALID_PARAMETERS", "1 to 100 phones, one sign each")
        if (texts and len(texts) != len(phones)) or (out_ids and len(out_ids) != len(phones)):
            return _provider_error("isv.INVALID_PARAMETERS", "one param and OutId per phone")
        faults = self.dice.faults
        if self.dice.take("sms_throttle_next", faults.sms_throttle_fraction):
            self.records.count("throttled")
            return _provider_error(
                "Throttling.User", "Request was denied due to user flow control."
            )
        self.records.count("sms_submission")
        biz_id = f"{int(time.time() * 1000)}^{uuid.uuid4().hex[:12]}"
        results = []
        for index, phone in enumerate(phones):
            out_id = out_ids[index] if out_ids else ""
            if not MAINLAND_MOBILE.match(phone) or phone in faults.sms_refused_phones:
                self.records.count("sms_refused")
                results.append(
                    {"OutId": out_id, "Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "invalid"}
                )
                continue
            self.records.accept_sms(
                StoredSms(
                    phone=phone,
                    out_id=out_id,
                    sign_name=signs[index],
                    content=str(texts[index].get("content", "")) if texts else "",
                    biz_id=biz_id,
                )
            )
            results.append({"OutId": out_id, "Code": "OK", "Message": "OK"})
        return JSONResponse(
            {
                "Code": "OK",
                "Message": "OK",
                "BizId": biz_id,
                "RequestId": str(uuid.uuid4()).upper(),
                "Results": results,
            }
        )

    def _query_status(self, params: Mapping[str, str]) -> JSONResponse:
        try:
            out_ids = [str(o) for o in json.loads(params["OutIdJson"])]
        except (KeyError, ValueError, TypeError):
            return _provider_error("isv.INVALID_PARAMETERS", "OutIdJson required")
        statuses = []
        for out_id in out_ids:
            phone = self.records.sms_phone_of(out_id)
            if phone is None:
                continue  # never accepted: the provider knows nothing of it
            failed = phone in self.dice.faults.sms_undelivered_phones
            statuses.append(
                {
                    "OutId": out_id,
                    "PhoneNum": phone,
                    "Status": "FAILED" if failed else "DELIVERED",
                    "ErrCode": "MOBILE_NOT_ON_SERVICE" if failed else "DELIVERED",
                }
            )
        return JSONResponse(
            {
                "Code": "OK",
                "Message": "OK",
                "RequestId": str(uuid.uuid4()).upper(),
                "Statuses": statuses,
            }
        )


def _bound_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


@contextlib.contextmanager
def running_sinks(
    *,
    smtp_port: int = 0,
    http_port: int = 0,
    sms_keys: Mapping[str, str] = LOCAL_SMS_KEYS,
    faults: Faults | None = None,
) -> Iterator[Sinks]:
    """Start the SMTP and HTTP sinks on loopback (free ports unless given); stop them on exit.

    Both run on one asyncio loop in a background thread.
    """
    records, faults = SinkRecords(), faults or Faults()
    dice = _Dice(faults)
    smtp_sock, http_sock = _bound_socket(smtp_port), _bound_socket(http_port)
    http = _HttpSinks(records, dice, sms_keys)
    server = uvicorn.Server(
        uvicorn.Config(
            http.app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
        )
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="notify-sinks", daemon=True)
    thread.start()

    async def start() -> tuple[asyncio.AbstractServer, asyncio.Task[None]]:
        mailbox = _Mailbox(records, dice)
        smtp = await loop.create_server(
            lambda: SMTP(mailbox, hostname="sinks.shequ.local", enable_SMTPUTF8=True),
            sock=smtp_sock,
        )
        serving = asyncio.create_task(server.serve(sockets=[http_sock]))
        while not server.started:
            if serving.done():
                serving.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        return smtp, serving

    async def stop(smtp: asyncio.AbstractServer, serving: asyncio.Task[None]) -> None:
        server.should_exit = True
        smtp.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(serving, 10)
        await smtp.wait_closed()

    started: Future[tuple[asyncio.AbstractServer, asyncio.Task[None]]] = (
        asyncio.run_coroutine_threadsafe(start(), loop)
    )
    try:
        smtp, serving = started.result(_START_TIMEOUT_S)
        try:
            yield Sinks(
                smtp_host="127.0.0.1",
                smtp_port=smtp_sock.getsockname()[1],
                http_url=f"http://127.0.0.1:{http_sock.getsockname()[1]}",
                records=records,
                faults=faults,
                sms_access_key_id=next(iter(sms_keys)),
                sms_access_key_secret=next(iter(sms_keys.values())),
            )
        finally:
            asyncio.run_coroutine_threadsafe(stop(smtp, serving), loop).result(15)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        smtp_sock.close()
        http_sock.close()


def main() -> int:
    """``python -m shequ_infra.sinks``: the sinks on notify's default ports until Ctrl-C."""
    with running_sinks(smtp_port=DEFAULT_SMTP_PORT, http_port=DEFAULT_HTTP_PORT) as sinks:
        print(
            f"SMTP sink 127.0.0.1:{sinks.smtp_port}; robot webhook {sinks.webhook_base}<key>; "
            f"SMS provider {sinks.sms_endpoint}; what arrived: {sinks.http_url}/messages",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
