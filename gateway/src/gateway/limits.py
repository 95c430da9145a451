"""What one caller, one tenant and one request may ask of the gateway.

Rate limits are token buckets held in this replica's memory: per caller (the verified token's
subject — never a claim read before the signature is checked), per tenant (the one in the
path, charged only by callers who hold a grant there, so nobody can spend another community's
budget), and per client address for callers who fail authentication, so a flood of bad tokens
is refused before it reaches the verifier. A refused request is a 429 problem whose
``Retry-After`` is the real wait until the bucket holds a token again.

Request limits are checked as the body arrives, never by reading it whole first: a declared
``Content-Length`` or the bytes counted so far over the route's limit is a 413; a JSON body
nested deeper than the limit is a 422 before the JSON parser (which recurses) sees it; a body
of a kind the route does not take is a 415.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import Final

from fastapi import FastAPI, Request
from fastapi import params as fastapi_params
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import GatewaySettings
from gateway.problems import problem
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.tenancy import InvalidTenantIdError, TenantId
from shequ_kit.tokens import Principal

# Multipart framing (boundary, part headers, the other fields) an upload route allows on top
# of the file itself.
UPLOAD_FRAMING_BYTES: Final = 64 * 1024
# Callers keyed in one table at most; idle (refilled) buckets go first, so only a flood of
# distinct keys ever evicts a bucket that is still being spent.
MAX_TRACKED_KEYS: Final = 100_000
_STATE_KEY: Final = "rate_limit"


# ---- token buckets ----


@dataclass(frozen=True)
class Rate:
    """Tokens added per second and the bucket's size; ``per_s`` 0 disables the limit."""

    per_s: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_s > 0


@dataclass(frozen=True)
class Admission:
    """One bucket's answer: allowed or not, what remains, and how long until a token is free."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: float

    @property
    def retry_after_header(self) -> int:
        """Whole seconds (``Retry-After`` takes no fractions), at least one."""
        return max(1, math.ceil(self.retry_after_s))


class TokenBuckets:
    """Token buckets of one rate by key; thread-safe (sync routes run in worker threads)."""

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        # key → (tokens, when they were counted); least recently used first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> Admission:
        """Spend a token of ``key``'s bucket if it holds one."""
        return self._answer(key, spend=True)

    def peek(self, key: str) -> Admission:
        """Whether ``key``'s bucket holds a token, without spending it."""
        return self._answer(key, spend=False)

    def __len__(self) -> int:
        return len(self._buckets)

    def _answer(self, key: str, *, spend: bool) -> Admission:
        rate = self.rate
        with self._lock:
            now = self._clock()
            tokens = self._tokens_now(key, now)
            allowed = tokens >= 1
            if allowed and spend:
                tokens -= 1
            if spend:
                self._buckets[key] = (tokens, now)
                self._buckets.move_to_end(key)
                self._evict(now)
        return Admission(
            allowed=allowed,
            limit=rate.burst,
            remaining=math.floor(tokens),
            retry_after_s=0.0 if allowed else (1 - tokens) / rate.per_s,
        )

    def _tokens_now(self, key: str, now: float) -> float:
        counted = self._buckets.get(key)
        if counted is None:
            return float(self.rate.burst)
        tokens, then = counted
        return min(float(self.rate.burst), tokens + (now - then) * self.rate.per_s)

    def _evict(self, now: float) -> None:
        """Over the cap, drop every full bucket (the same as none), then the least recently
        used down to nine tenths of the cap, so the sweep runs once per many new keys."""
        if len(self._buckets) <= self._max_keys:
            return
        full = [k for k in self._buckets if self._tokens_now(k, now) >= self.rate.burst]
        for key in full:
            del self._buckets[key]
        while len(self._buckets) > self._max_keys * 9 // 10:
            self._buckets.popitem(last=False)


class RateLimitError(Exception):
    """A request over a rate limit. Deliberately not an HTTPException nor a DomainError, so the
    GeoReport routes let it through to the one 429 problem with its real ``Retry-After``."""

    def __init__(self, scope: str, admission: Admission, tenant: TenantId | None = None) -> None:
        super().__init__(f"{scope} rate limit: retry in {admission.retry_after_s:.2f} s")
        self.scope = scope
        self.admission = admission
        self.tenant = tenant


class RateLimits:
    """The gateway's buckets: per caller, per tenant, and per address for failed logins."""

    def __init__(
        self, *, per_user: Rate, per_tenant: Rate, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.users = TokenBuckets(per_user, clock=clock)
        self.tenants = TokenBuckets(per_tenant, clock=clock)
        # Callers without a verified identity are limited like one caller per address.
        self.addresses = TokenBuckets(per_user, clock=clock)

    @classmethod
    def of(cls, settings: GatewaySettings) -> RateLimits:
        return cls(
            per_user=Rate(settings.rate_limit_user_per_s, settings.rate_limit_user_burst),
            per_tenant=Rate(settings.rate_limit_tenant_per_s, settings.rate_limit_tenant_burst),
        )

    def refuse_flooding_address(self, address: str) -> None:
        """Refuse before verifying when ``address`` has spent its budget on failed logins."""
        if not self.addresses.rate.enabled:
            return
        admission = self.addresses.peek(address)
        if not admission.allowed:
            raise RateLimitError("address", admission)

    def charge_failed_login(self, address: str) -> None:
        if self.addresses.rate.enabled:
            self.addresses.take(address)

    def admit(self, subject: str, tenant: TenantId | None) -> Admission | None:
        """Spend the caller's token, then the tenant's (a caller refused by their own limit
        spends nothing of the tenant's); the admission nearest to its limit, if any applies."""
        admissions = []
        if self.users.rate.enabled:
            mine = self.users.take(subject)
            if not mine.allowed:
                raise RateLimitError("user", mine)
            admissions.append(mine)
        if tenant is not None and self.tenants.rate.enabled:
            theirs = self.tenants.take(tenant.value)
            if not theirs.allowed:
                raise RateLimitError("tenant", theirs, tenant)
            admissions.append(theirs)
        return min(admissions, key=lambda a: a.remaining, default=None)


def admitted_caller(request: Request, verify: Callable[[], Principal]) -> Principal:
    """The caller ``verify`` establishes from the request's token, within the rate limits.

    Every route that verifies a token comes here (REST and GeoReport alike), so the limits key
    on the verified subject only. The tenant charged is the path's, and only for a caller with
    a grant on it: a foreign caller's refused requests spend nothing of that tenant's budget.
    """
    limits: RateLimits = request.app.state.rate_limits
    address = request.client.host if request.client else "unknown"
    limits.refuse_flooding_address(address)
    try:
        principal = verify()
    except DomainError as error:
        if error.kind is ErrorKind.UNAUTHENTICATED:
            limits.charge_failed_login(address)
        raise
    tenant = _path_tenant(request)
    charged = tenant if tenant is not None and principal.can_access(tenant) else None
    admission = limits.admit(principal.subject, charged)
    if admission is not None:
        setattr(request.state, _STATE_KEY, admission)
    return principal


def _path_tenant(request: Request) -> TenantId | None:
    raw = request.path_params.get("tenant")
    if not isinstance(raw, str):
        return None
    try:
        return TenantId.parse(raw)
    except InvalidTenantIdError:
        return None  # the route answers the malformed tenant itself


_RATE_WORDS: Final = {
    "user": ("您的请求过于频繁，请 {s} 秒后重试", "too many requests from you; retry in {s} s"),
    "tenant": (
        "{tenant} 的请求过于频繁，请 {s} 秒后重试",
        "too many requests for tenant {tenant}; retry in {s} s",
    ),
    "address": (
        "来自此地址的未通过认证的请求过多，请 {s} 秒后重试",
        "too many unauthenticated requests from this address; retry in {s} s",
    ),
}


async def _rate_limited(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RateLimitError)
    seconds = error.admission.retry_after_header
    zh, en = _RATE_WORDS[error.scope]
    tenant = str(error.tenant or "")
    params = {"limit": str(error.admission.limit), "retry_after_s": str(seconds)}
    if tenant:
        params["tenant"] = tenant
    return problem(
        request,
        429,
        code=f"rate_limit.{error.scope}",
        detail=zh.format(s=seconds, tenant=tenant),
        detail_en=en.format(s=seconds, tenant=tenant),
        params=params,
        retry_after_s=seconds,
        headers=_rate_headers(error.admission),
    )


def _rate_headers(admission: Admission) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(admission.limit),
        "RateLimit-Remaining": str(admission.remaining),
    }


# ---- request bodies ----


class UploadRoute(APIRoute):
    """A route that takes a file: its body may reach ``GATEWAY_MAX_UPLOAD_BYTES`` (plus the
    multipart framing) instead of ``GATEWAY_MAX_BODY_BYTES``."""


class RequestRefused(StarletteHTTPException):
    """A body over a limit or of the wrong kind, noticed while it arrives. An HTTPException,
    because FastAPI lets only those out of its body reading unchanged."""

    def __init__(
        self, status: int, code: str, zh: str, en: str, params: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, en)
        self.code = code
        self.zh = zh
        self.en = en
        self.params = params or {}


def too_large(limit: int) -> RequestRefused:
    size = size_words(limit)
    return RequestRefused(
        413,
        "request.too_large",
        f"请求内容过大（上限 {size}），请拆分后重试",
        f"the request body exceeds {size}; split it",
        {"max_bytes": str(limit)},
    )


def size_words(limit: int) -> str:
    """A byte count as people read it: 1 MiB, 64 KiB, 1000 bytes."""
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def too_deep(limit: int) -> RequestRefused:
    return RequestRefused(
        422,
        "request.json_too_deep",
        f"请求体 JSON 嵌套过深（最多 {limit} 层）",
        f"the JSON body nests deeper than {limit} levels",
        {"max_depth": str(limit)},
    )


def unsupported_media(expected: str) -> RequestRefused:
    return RequestRefused(
        415,
        "request.unsupported_media_type",
        f"请求体格式不受支持，请以 {expected} 发送",
        f"send the body as {expected}",
        {"expected": expected},
    )


async def _request_refused(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestRefused)
    return problem(
        request,
        error.status_code,
        code=error.code,
        detail=error.zh,
        detail_en=error.en,
        params=error.params,
    )


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in ``body``; brackets inside strings do not count.

    Strings go first (one regular expression), then every bracket becomes +1 or -1 and the
    running sum's maximum is the depth: C loops only, about a millisecond per MiB.
    """
    steps = _JSON_STRING.sub(b"", body).translate(_BRACKET_STEPS, _NOT_BRACKETS)
    return max(accumulate(memoryview(steps).cast("b"), initial=0))


def media_type(headers: Headers) -> str:
    return headers.get("content-type", "").partition(";")[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


@dataclass(frozen=True)
class BodyLimits:
    max_body_bytes: int
    max_upload_bytes: int
    max_json_depth: int

    @classmethod
    def of(cls, settings: GatewaySettings) -> BodyLimits:
        return cls(settings.max_body_bytes, settings.max_upload_bytes, settings.max_json_depth)

    def of_route(self, route: object) -> int:
        if isinstance(route, UploadRoute):
            return self.max_upload_bytes + UPLOAD_FRAMING_BYTES
        return self.max_body_bytes


class _GuardedBody:
    """The request's ``receive``, checked: the route's size limit against the declared length
    and the bytes so far, the content type against what the route parses, and a JSON body's
    depth once complete. Routing has happened by the first read, so the route is known."""

    def __init__(self, scope: Scope, receive: Receive, limits: BodyLimits) -> None:
        self._scope = scope
        self._receive = receive
        self._limits = limits
        self._headers = Headers(scope=scope)
        self._limit = limits.max_body_bytes
        self._received = 0
        self._json: list[bytes] | None = None
        self._checked = False

    async def receive(self) -> Message:
        if not self._checked:
            self._check_before_reading()
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        chunk: bytes = message.get("body", b"")
        self._received += len(chunk)
        if self._received > self._limit:
            raise too_large(self._limit)
        if self._json is not None:
            self._json.append(chunk)
            if not message.get("more_body", False):
                body, self._json = b"".join(self._json), None
                if json_depth(body) > self._limits.max_json_depth:
                    raise too_deep(self._limits.max_json_depth)
        return message

    def _check_before_reading(self) -> None:
        self._checked = True
        route = self._scope.get("route")
        self._limit = self._limits.of_route(route)
        declared = _declared_length(self._headers)
        if declared is not None and declared > self._limit:
            raise too_large(self._limit)
        media = media_type(self._headers)
        has_body = bool(declared) or "transfer-encoding" in self._headers
        if _takes_json(route) and (media or has_body) and not is_json(media):
            raise unsupported_media("application/json")
        if is_json(media):
            self._json = []


def _takes_json(route: object) -> bool:
    """Whether FastAPI parses the route's body as JSON (a body model, not a form or a file)."""
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    return not isinstance(route.body_field.field_info, fastapi_params.Form)


def _declared_length(headers: Headers) -> int | None:
    declared = headers.get("content-length", "")
    return int(declared) if declared.isdigit() else None


class RequestLimitsMiddleware:
    """Guards every request's body (see ``_GuardedBody``; a body no route reads is never
    read), and tells the caller its remaining rate budget (``RateLimit-Limit`` and
    ``RateLimit-Remaining``, from the admission ``admitted_caller`` recorded)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_budget(message: Message) -> None:
            admission = scope.get("state", {}).get(_STATE_KEY)
            if message["type"] == "http.response.start" and isinstance(admission, Admission):
                headers = MutableHeaders(scope=message)
                for name, value in _rate_headers(admission).items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, _GuardedBody(scope, receive, self.limits).receive, send_with_budget)


def install_limits(app: FastAPI, settings: GatewaySettings) -> None:
    """The rate limits (``app.state.rate_limits``), the body guard and their 413/415/422/429
    problems. Install before the request-id middleware, so it runs inside it."""
    app.state.rate_limits = RateLimits.of(settings)
    app.add_middleware(RequestLimitsMiddleware, limits=BodyLimits.of(settings))
    app.add_exception_handler(RateLimitError, _rate_limited)
    app.add_exception_handler(RequestRefused, _request_refused)


__all__ = [
    "Admission",
    "BodyLimits",
    "Rate",
    "RateLimitError",
    "RateLimits",
    "RequestLimitsMiddleware",
    "RequestRefused",
    "TokenBuckets",
    "UploadRoute",
    "admitted_caller",
    "install_limits",
    "json_depth",
]
