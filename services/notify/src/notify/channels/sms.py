"""SMS through a provider in the style of Alibaba Cloud's dysmsapi (RPC-style signed HTTP API).

``Action=SendBatchSms`` carries up to 100 phones with one OutId each (our delivery id: the
provider drops a repeated OutId, so a resend after an uncertain outcome reaches no one twice);
``Action=QuerySendStatus`` by OutIds pulls the delivery reports. Every request is signed:
``Signature = base64(HMAC-SHA1(secret + "&", "POST&%2F&" + pct(canonical query)))``, the
canonical query being the sorted, percent-encoded parameters (RFC 3986, ``~`` unreserved).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from notify.channels.base import Outcome, Outgoing, every
from notify.ratelimit import TokenBuckets

API_VERSION = "2017-05-25"
REGION = "cn-hangzhou"
PHONES_PER_REQUEST = 100
# The provider's codes: throttled (the whole request, later) and a phone it will never reach.
RETRYABLE_CODES = frozenset(
    {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "ServiceUnavailable"}
)
PERMANENT_CODES = frozenset({"isv.MOBILE_NUMBER_ILLEGAL"})
CODE_REASONS = {
    "isv.BUSINESS_LIMIT_CONTROL": "短信发送频率超限 provider flow control",
    "Throttling.User": "短信服务限流 provider throttled",
    "isv.MOBILE_NUMBER_ILLEGAL": "手机号码无效 invalid mobile number",
    "SignatureDoesNotMatch": "短信签名校验失败 request signature refused",
    "InvalidAccessKeyId.NotFound": "短信账号无效 unknown access key",
}


def percent_encode(text: str) -> str:
    """RFC 3986 encoding as the provider's signature defines it (space → %20, ``~`` kept)."""
    return quote(text, safe="~")


def sign(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """The request's Signature over every parameter but Signature itself."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
    )
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _reason(code: str, message: str) -> str:
    return f"{CODE_REASONS.get(code, '短信发送失败 SMS refused')} ({code}: {message})"


class SmsChannel:
    name = "sms"

    def __init__(
        self,
        *,
        client: httpx.Client,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        template_code: str,
        limiter: TokenBuckets,
        batch_size: int = PHONES_PER_REQUEST,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self.sign_name = sign_name
        self.template_code = template_code
        self.limiter = limiter
        self.batch_size = min(batch_size, PHONES_PER_REQUEST)

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for start in range(0, len(messages), PHONES_PER_REQUEST):
            chunk = messages[start : start + PHONES_PER_REQUEST]
            self.limiter.acquire(self.name, len(chunk))
            outcomes += self._send_chunk(chunk)
        return outcomes

    def _send_chunk(self, chunk: Sequence[Outgoing]) -> list[Outcome]:
        answer = self._call(
            "SendBatchSms",
            {
                "PhoneNumberJson": _json([m.address for m in chunk]),
                "SignNameJson": _json([self.sign_name] * len(chunk)),
                "TemplateCode": self.template_code,
                "TemplateParamJson": _json([{"content": m.body} for m in chunk]),
                "OutIdJson": _json([str(m.delivery_id) for m in chunk]),
            },
        )
        if isinstance(answer, Outcome):
            return every(chunk, answer)
        biz_id = str(answer.get("BizId", ""))
        per_phone = {
            str(r.get("OutId")): (str(r.get("Code", "")), str(r.get("Message", "")))
            for r in answer.get("Results") or []
            if isinstance(r, dict)
        }
        outcomes = []
        for message in chunk:
            code, text = per_phone.get(str(message.delivery_id), ("OK", "OK"))
            if code == "OK":
                outcomes.append(Outcome.sent(biz_id))
            elif code in RETRYABLE_CODES:
                outcomes.append(Outcome.retry(_reason(code, text)))
            else:  # this phone is refused for good: the next channel may reach the person
                outcomes.append(Outcome.permanent(_reason(code, text)))
        return outcomes

    def receipts(self, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Outcome]:
        found: dict[uuid.UUID, Outcome] = {}
        for start in range(0, len(delivery_ids), PHONES_PER_REQUEST):
            chunk = delivery_ids[start : start + PHONES_PER_REQUEST]
            answer = self._call("QuerySendStatus", {"OutIdJson": _json([str(i) for i in chunk])})
            if isinstance(answer, Outcome):
                continue  # the reports stay at the provider; asked again on the next pass
            for status in answer.get("Statuses") or []:
                if not isinstance(status, dict):
                    continue
                try:
                    delivery_id = uuid.UUID(str(status.get("OutId")))
                except ValueError:
                    continue
                state = status.get("Status")
                if state == "DELIVERED":
                    found[delivery_id] = Outcome.delivered()
                elif state == "FAILED":
                    code = str(status.get("ErrCode", ""))
                    found[delivery_id] = Outcome.permanent(f"短信未送达 SMS not delivered ({code})")
        return found

    def _call(self, action: str, fields: Mapping[str, str]) -> dict[str, Any] | Outcome:
        """The provider's answer when its Code is OK, else the outcome for the whole request."""
        params = {
            "AccessKeyId": self.access_key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": REGION,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
            **fields,
        }
        params["Signature"] = sign(params, self._secret)
        try:
            response = self.client.post(self.endpoint, data=params)
        except httpx.HTTPError as error:
            return Outcome.retry(f"短信服务连接失败 SMS provider unreachable: {error}")
        try:
            answer = response.json()
        except ValueError:
            status = response.status_code
            return Outcome.retry(f"短信服务应答无法解析 unreadable answer (HTTP {status})")
        if not isinstance(answer, dict):
            return Outcome.retry("短信服务应答无法解析 unreadable answer")
        code, text = str(answer.get("Code", "")), str(answer.get("Message", ""))
        if code == "OK":
            return answer
        if code in PERMANENT_CODES:
            return Outcome.permanent(_reason(code, text))
        # Throttling, and whole-request refusals such as a bad signature or key: retried, since
        # they are no fault of the person's phone (falling back would be wrong), and the retry
        # cap turns a lasting one into visible, re-sendable failures.
        return Outcome.retry(_reason(code, text))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
