"""Talking to the gateway and to Keycloak: the token, the cached login, and what a failed call
means for the exit code.

Exit codes: 0 done, 1 refused (the gateway or Keycloak said no; a census import with failed
rows), 2 usage (bad arguments, no token), 3 unreachable (no answer, or the gateway could not
reach a service: 502/503/504).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

EXIT_REFUSED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3

CLIENT_ID: Final = "shequ-cli"  # the realm's public direct-grant client
DEFAULT_GATEWAY: Final = "http://127.0.0.1:8000"
DEFAULT_ISSUER: Final = "http://127.0.0.1:8080/realms/shequ"
# A token this close to its expiry is refreshed first: the call itself takes time too.
_EXPIRY_MARGIN_S: Final = 30.0
_UNREACHABLE_STATUSES: Final = frozenset({502, 503, 504})


class CommandError(Exception):
    """Ends the command: ``message`` on stderr, ``exit_code`` as the process's status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def usage_error(message: str) -> CommandError:
    return CommandError(message, EXIT_USAGE)


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/shequctl``, else ``~/.config/shequctl``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "shequctl"


def token_file() -> Path:
    return config_dir() / "token.json"


@dataclass(frozen=True)
class CachedLogin:
    """What ``shequctl login`` keeps: the tokens and where they came from."""

    issuer: str
    username: str
    access_token: str
    access_expires_at: float
    refresh_token: str
    refresh_expires_at: float

    @classmethod
    def of(cls, issuer: str, username: str, tokens: Mapping[str, Any]) -> CachedLogin:
        now = time.time()
        return cls(
            issuer=issuer,
            username=username,
            access_token=str(tokens["access_token"]),
            access_expires_at=now + float(tokens.get("expires_in", 0)),
            refresh_token=str(tokens.get("refresh_token", "")),
            refresh_expires_at=now + float(tokens.get("refresh_expires_in", 0)),
        )


def save_login(login: CachedLogin) -> Path:
    """Write the login readable by its owner only (0600 in a 0700 directory)."""
    path = token_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as written:
        json.dump(login.__dict__, written)
    os.chmod(path, 0o600)  # an older file keeps its mode through O_TRUNC
    return path


def load_login() -> CachedLogin | None:
    path = token_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return CachedLogin(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        raise usage_error(
            f"登录缓存已损坏，请重新登录 shequctl login / the cached login {path} is unreadable: "
            f"{error}"
        ) from error


def forget_login() -> bool:
    try:
        token_file().unlink()
    except FileNotFoundError:
        return False
    return True


def _token_endpoint(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/protocol/openid-connect/token"


def _grant(issuer: str, form: Mapping[str, str], timeout_s: float) -> dict[str, Any]:
    try:
        response = httpx.post(_token_endpoint(issuer), data=form, timeout=timeout_s)
    except httpx.TransportError as error:
        raise CommandError(
            f"无法连接登录服务 {issuer} / cannot reach the issuer: {error}", EXIT_UNREACHABLE
        ) from error
    if response.status_code in _UNREACHABLE_STATUSES:
        raise CommandError(
            f"登录服务暂不可用 / the issuer answered {response.status_code}", EXIT_UNREACHABLE
        )
    body = _json_or_none(response)
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        reason = body.get("error_description", "") if isinstance(body, dict) else response.text
        raise CommandError(
            f"登录失败：用户名或密码错误，或会话已失效 / login refused: {reason}", EXIT_REFUSED
        )
    return body


def password_login(
    issuer: str, username: str, password: str, *, timeout_s: float = 30.0
) -> CachedLogin:
    """The realm's password grant for the ``shequ-cli`` client."""
    tokens = _grant(
        issuer,
        {
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "username": username,
            "password": password,
            "scope": "openid",
        },
        timeout_s,
    )
    return CachedLogin.of(issuer, username, tokens)


def access_token(*, timeout_s: float = 30.0) -> str:
    """``SHEQUCTL_TOKEN``, else the cached login's token (refreshed when it has expired)."""
    given = os.environ.get("SHEQUCTL_TOKEN", "").strip()
    if given:
        return given
    login = load_login()
    if login is None:
        raise usage_error(
            "未登录：请先运行 shequctl login，或设置 SHEQUCTL_TOKEN / "
            "not logged in: run `shequctl login` or set SHEQUCTL_TOKEN"
        )
    now = time.time()
    if login.access_expires_at - _EXPIRY_MARGIN_S > now:
        return login.access_token
    if not login.refresh_token or login.refresh_expires_at - _EXPIRY_MARGIN_S <= now:
        raise usage_error(
            "登录已过期，请重新运行 shequctl login / the login has expired: run `shequctl login`"
        )
    tokens = _grant(
        login.issuer,
        {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "refresh_token": login.refresh_token,
        },
        timeout_s,
    )
    refreshed = CachedLogin.of(login.issuer, login.username, tokens)
    save_login(refreshed)
    return refreshed.access_token


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def problem_message(response: httpx.Response) -> str:
    """The problem+json in words: Chinese detail, English detail, the fields at fault."""
    body = _json_or_none(response)
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}: {response.text[:500]}"
    parts = [str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")]
    if body.get("detail_en"):
        parts.append(str(body["detail_en"]))
    message = " / ".join(parts)
    code = body.get("code")
    if code:
        message = f"{message} [{code}, HTTP {response.status_code}]"
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            message += f"\n  {error.get('field', '?')}: {error.get('detail', '')}"
    if body.get("request_id"):
        message += f"\n  request id: {body['request_id']}"
    return message


class Gateway:
    """The gateway's REST API as the caller (``Authorization: Bearer``)."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout_s,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """The answer's status and JSON body; a problem answer ends the command."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise CommandError(
                f"无法连接网关 {self.base_url} / cannot reach the gateway: {error}",
                EXIT_UNREACHABLE,
            ) from error
        if response.status_code >= 400:
            exit_code = (
                EXIT_UNREACHABLE if response.status_code in _UNREACHABLE_STATUSES else EXIT_REFUSED
            )
            raise CommandError(problem_message(response), exit_code)
        return response.status_code, _json_or_none(response)
