"""shequctl without a gateway: argument parsing, the tables, the token cache and exit codes,
against a local HTTP handler standing in for the gateway's and Keycloak's answers."""

import io
import json
import stat
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shequctl.__main__ import main
from shequctl.commands import moment
from shequctl.session import (
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CachedLogin,
    CommandError,
    load_login,
    save_login,
    token_file,
)
from shequctl.tables import display_width, render_table, seconds

Answer = tuple[int, dict[str, Any]]


class FakeServer:
    """Records requests and answers each with the answer registered for its path."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Answer] = {}
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                status, payload = outer.answers.get((self.command, path), (404, {"title": "?"}))
                data = json.dumps(payload).encode()
                self.send_response(status)
                kind = "application/problem+json" if status >= 400 else "application/json"
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815 - the handler's protocol names them

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("SHEQUCTL_TOKEN", "SHEQUCTL_GATEWAY", "SHEQUCTL_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run() -> Run:
    def invoke(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    return invoke


OUTBOX = {
    "services": [
        {
            "service": "census",
            "pending": 3,
            "oldest_pending_age_seconds": 4000.0,
            "published_last_hour": 120,
            "topics": [
                {
                    "topic": "shequ.census.v1",
                    "pending": 3,
                    "oldest_pending_at": "2026-11-23T08:00:00+08:00",
                    "oldest_pending_age_seconds": 4000.0,
                    "published_last_hour": 120,
                }
            ],
            "error": None,
        },
        {
            "service": "notify",
            "pending": 0,
            "oldest_pending_age_seconds": 0.0,
            "published_last_hour": 0,
            "topics": [],
            "error": {"code": "UNAVAILABLE", "detail": "服务暂时无法应答", "detail_en": "down"},
        },
    ]
}


# ---- parsing ----


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["outbox"],
        ["outbox", "replay", "--service", "census"],  # --since missing
        ["outbox", "replay", "--service", "ledger", "--since", "2h"],
        ["members", "create", "xiaoshan.shushan.hushan", "--username", "u", "--role", "king"],
        ["tenants", "onboard", "xiaoshan.shushan.junle", "--name-zh", "郡乐社区"],
        ["projections", "rebuild", "grid"],
    ],
)
def test_bad_arguments_exit_2_with_the_usage(run: Run, argv: list[str]) -> None:
    code, out, err = run(*argv)
    assert (code, out) == (EXIT_USAGE, "")
    assert "usage: shequctl" in err


def test_without_a_token_nothing_is_sent_and_the_exit_is_2(run: Run, server: FakeServer) -> None:
    code, _, err = run("--gateway", server.url, "outbox", "status")
    assert code == EXIT_USAGE
    assert "shequctl login" in err
    assert server.requests == []


@pytest.mark.parametrize("value", ["2h", "90m", "3d", "45s"])
def test_relative_since_is_that_long_ago_in_utc(value: str) -> None:
    amount = {"2h": 7200, "90m": 5400, "3d": 259200, "45s": 45}[value]
    sent = datetime.fromisoformat(moment(value, "--since"))
    assert sent.tzinfo is not None
    assert abs((datetime.now(UTC) - sent).total_seconds() - amount) < 5


def test_iso_since_goes_as_given_and_nonsense_is_a_usage_error() -> None:
    assert moment("2026-11-23T08:00", "--since") == "2026-11-23T08:00"
    with pytest.raises(CommandError) as raised:
        moment("last tuesday", "--since")
    assert raised.value.exit_code == EXIT_USAGE
    assert "--since" in raised.value.message


# ---- output ----


def test_tables_align_chinese_as_double_width() -> None:
    assert display_width("湖山社区") == 8
    table = render_table(["名称 name", "n"], [["湖山", 7], ["shibei", 12]], numeric=[1])
    lines = table.splitlines()
    widths = {display_width(line) for line in lines}
    assert len(widths) == 1  # every line equally wide: the numbers end in one column
    assert lines[2].endswith(" 7")
    assert lines[3].endswith("12")


def test_ages_read_like_people_say_them() -> None:
    assert [seconds(42), seconds(210), seconds(7560)] == ["42 s", "3.5 min", "2.1 h"]


def test_outbox_status_table_shows_each_topic_and_the_unanswered_service(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok-123")
    server.answers[("GET", "/api/v1/ops/outbox")] = (200, OUTBOX)
    code, out, err = run("--gateway", server.url, "outbox", "status", "--tenant", "xiaoshan")
    assert (code, err) == (0, "")
    assert "shequ.census.v1" in out
    assert "66.7 min" in out
    assert "120" in out
    assert "notify" in out
    assert "UNAVAILABLE" in out
    [request] = server.requests
    assert request["path"] == "/api/v1/ops/outbox?tenant=xiaoshan"
    assert request["headers"]["Authorization"] == "Bearer tok-123"


def test_json_output_is_the_gateways_answer(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    server.answers[("GET", "/api/v1/ops/outbox")] = (200, OUTBOX)
    code, out, _ = run("--gateway", server.url, "--json", "outbox", "status")
    assert code == 0
    assert json.loads(out) == OUTBOX


def test_replay_sends_the_range_and_reports_the_count(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    server.answers[("POST", "/api/v1/ops/outbox/replay")] = (
        200,
        {"service": "cases", "replayed": 17},
    )
    code, out, _ = run(
        "--gateway",
        server.url,
        "outbox",
        "replay",
        "--service",
        "cases",
        "--since",
        "2026-11-23T08:00",
        "--until",
        "2026-11-23T09:00",
        "--tenant",
        "xiaoshan.beigan.shibei",
    )
    assert code == 0
    assert "17" in out
    assert json.loads(server.requests[0]["body"]) == {
        "service": "cases",
        "since": "2026-11-23T08:00",
        "until": "2026-11-23T09:00",
        "tenant": "xiaoshan.beigan.shibei",
    }


# ---- errors and exit codes ----


def test_a_refusal_prints_the_problem_in_both_languages_and_exits_1(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    server.answers[("GET", "/api/v1/ops/consumers")] = (
        403,
        {
            "status": 403,
            "code": "auth.permission_denied",
            "detail": "只有平台管理员可以运维整个平台",
            "detail_en": "only platform administrators operate the whole platform",
            "request_id": "r-1",
        },
    )
    code, out, err = run("--gateway", server.url, "consumers", "lag")
    assert (code, out) == (EXIT_REFUSED, "")
    assert "只有平台管理员" in err
    assert "only platform administrators" in err
    assert "auth.permission_denied" in err
    assert "r-1" in err


def test_a_422_names_the_fields(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    server.answers[("POST", "/api/v1/tenants")] = (
        422,
        {
            "status": 422,
            "detail": "请求内容有误",
            "detail_en": "invalid request",
            "errors": [{"field": "body.division_code", "detail": "12 digits"}],
        },
    )
    code, _, err = run(
        "--gateway", server.url, "tenants", "onboard", "xiaoshan.shushan.junle",
        "--name-zh", "郡乐社区", "--name-en", "Junle", "--division-code", "12",
    )  # fmt: skip
    assert code == EXIT_REFUSED
    assert "body.division_code: 12 digits" in err


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_service_the_gateway_cannot_reach_exits_3(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    server.answers[("GET", "/api/v1/ops/consumers")] = (status, {"detail": "下游不可用"})
    assert run("--gateway", server.url, "consumers", "lag")[0] == EXIT_UNREACHABLE


def test_an_unreachable_gateway_exits_3(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    code, _, err = run("--gateway", "http://127.0.0.1:9", "--timeout", "2", "consumers", "lag")
    assert code == EXIT_UNREACHABLE
    assert "无法连接网关" in err


def test_an_import_with_refused_rows_prints_them_and_exits_1(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    tenant = "xiaoshan.shushan.hushan"
    server.answers[("POST", f"/api/v1/tenants/{tenant}/imports")] = (
        200,
        {
            "import_id": "imp-1",
            "rows_total": 3,
            "rows_imported": 2,
            "already_imported": False,
            "rejected": [
                {
                    "row": 4,
                    "column": "身份证号",
                    "message_zh": "校验码不符",
                    "message_en": "check digit wrong",
                }
            ],
        },
    )
    sheet = tmp_path / "居民.csv"
    sheet.write_text("姓名,身份证号\n", encoding="utf-8")
    code, out, _ = run("--gateway", server.url, "census", "import", tenant, str(sheet), "--strict")
    assert code == EXIT_REFUSED
    assert "身份证号" in out
    assert "校验码不符" in out
    assert "imported: 2" in out
    body = server.requests[0]["body"]
    assert b'name="strict"' in body
    assert b"true" in body
    assert "居民.csv".encode() in body


def test_a_missing_import_file_is_a_usage_error(
    run: Run, monkeypatch: pytest.MonkeyPatch, server: FakeServer
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    code, _, err = run("--gateway", server.url, "census", "import", "xiaoshan", "/no/such.xlsx")
    assert code == EXIT_USAGE
    assert "/no/such.xlsx" in err
    assert server.requests == []


def test_member_creation_prints_a_generated_password_once(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    tenant = "xiaoshan.shushan.hushan"
    server.answers[("POST", f"/api/v1/tenants/{tenant}/members")] = (
        201,
        {
            "id": "m-1",
            "username": "hushan-staff-09",
            "display_name": "hushan-staff-09",
            "email": None,
            "enabled": True,
            "roles": ["community-staff", "pii-reader"],
        },
    )
    code, out, _ = run(
        "--gateway", server.url, "members", "create", tenant, "--username", "hushan-staff-09",
        "--role", "community-staff", "--pii-reader",
    )  # fmt: skip
    sent = json.loads(server.requests[0]["body"])
    assert code == 0
    assert sent["pii_reader"] is True
    assert sent["temporary_password"] is True
    assert len(sent["initial_password"]) >= 10
    assert sent["initial_password"] in out


# ---- login and the token cache ----


def test_login_caches_the_token_for_its_owner_only(
    run: Run, server: FakeServer, isolated_config: Path
) -> None:
    server.answers[("POST", "/realms/shequ/protocol/openid-connect/token")] = (
        200,
        {"access_token": "acc-1", "expires_in": 300, "refresh_token": "ref-1",
         "refresh_expires_in": 1800},
    )  # fmt: skip
    issuer = f"{server.url}/realms/shequ"
    code, out, _ = run(
        "login", "--issuer", issuer, "--username", "platform", "--password-stdin",
        stdin="s3cret\n",
    )  # fmt: skip
    assert code == 0
    assert "platform" in out
    form = server.requests[0]["body"].decode()
    assert "client_id=shequ-cli" in form
    assert "password=s3cret" in form
    path = token_file()
    assert path.is_relative_to(isolated_config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    cached = load_login()
    assert cached is not None
    assert cached.access_token == "acc-1"

    server.answers[("GET", "/api/v1/ops/consumers")] = (200, {"services": []})
    assert run("--gateway", server.url, "consumers", "lag")[0] == 0
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer acc-1"


def test_an_expired_login_is_refreshed_once_and_cached_again(run: Run, server: FakeServer) -> None:
    issuer = f"{server.url}/realms/shequ"
    save_login(CachedLogin(issuer, "platform", "old", time.time() - 10, "ref-1", time.time() + 600))
    server.answers[("POST", "/realms/shequ/protocol/openid-connect/token")] = (
        200,
        {"access_token": "new", "expires_in": 300, "refresh_token": "ref-2",
         "refresh_expires_in": 1800},
    )  # fmt: skip
    server.answers[("GET", "/api/v1/ops/consumers")] = (200, {"services": []})
    assert run("--gateway", server.url, "consumers", "lag")[0] == 0
    assert "grant_type=refresh_token" in server.requests[0]["body"].decode()
    assert server.requests[1]["headers"]["Authorization"] == "Bearer new"
    cached = load_login()
    assert cached is not None
    assert cached.refresh_token == "ref-2"


def test_a_wrong_password_exits_1_and_caches_nothing(run: Run, server: FakeServer) -> None:
    server.answers[("POST", "/realms/shequ/protocol/openid-connect/token")] = (
        401,
        {"error": "invalid_grant", "error_description": "Invalid user credentials"},
    )
    code, _, err = run(
        "login", "--issuer", f"{server.url}/realms/shequ", "--username", "platform",
        "--password-stdin", stdin="wrong\n",
    )  # fmt: skip
    assert code == EXIT_REFUSED
    assert "Invalid user credentials" in err
    assert not token_file().exists()


def test_logout_forgets_the_login(run: Run) -> None:
    save_login(CachedLogin("http://x", "u", "a", time.time() + 60, "", 0.0))
    assert run("logout")[0] == 0
    assert load_login() is None


AUDIT_PAGE = {
    "items": [
        {
            "id": "0b6f5d2e-0000-4000-8000-000000000001",
            "service": "census",
            "tenant_id": "xiaoshan.shushan.hushan",
            "occurred_at": "2026-11-23T16:05:09.123456+08:00",
            "actor_name": "hushan-pii",
            "actor_subject": "s-1",
            "action": "pii.revealed",
            "target_kind": "resident",
            "target_id": "r-1",
            "summary": "查看一位居民未脱敏的身份证号和手机号，理由：上门核实",
            "summary_en": "revealed a resident's unmasked ID number and phone",
            "detail": {"reason": "上门核实"},
            "request_id": "req-1",
        }
    ],
    "next_page_token": "WyIyMDI2Il0=",
}


def test_the_audit_log_is_listed_for_a_tenant_with_its_filters_and_the_next_page(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    server.answers[("GET", "/api/v1/tenants/xiaoshan.shushan/audit")] = (200, AUDIT_PAGE)
    code, out, err = run(
        "--gateway",
        server.url,
        "audit",
        "list",
        "--tenant",
        "xiaoshan.shushan",
        "--action",
        "pii.",
        "--actor",
        "hushan-pii",
        "--limit",
        "20",
    )
    assert (code, err) == (0, "")
    assert "2026-11-23 16:05:09" in out
    assert "pii.revealed" in out
    assert "理由：上门核实" in out
    assert "--page-token WyIyMDI2Il0=" in out
    [request] = server.requests
    assert request["path"] == (
        "/api/v1/tenants/xiaoshan.shushan/audit?page_size=20&action=pii.&actor=hushan-pii"
    )


def test_the_audit_log_without_a_tenant_is_the_platforms(
    run: Run, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUCTL_TOKEN", "tok")
    last_page = {**AUDIT_PAGE, "next_page_token": ""}
    server.answers[("GET", "/api/v1/audit")] = (200, last_page)
    code, out, _ = run("--gateway", server.url, "--json", "audit", "list")
    assert code == 0
    assert json.loads(out) == last_page
    assert server.requests[0]["path"] == "/api/v1/audit?page_size=50"
