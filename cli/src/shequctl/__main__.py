"""shequctl — Shequ 社区 operator's command line (talks only to the gateway's REST API).

  shequctl login [--username U]                       log in (password grant, client shequ-cli)
  shequctl logout
  shequctl tenants onboard <id> --name-zh 郡乐社区 --name-en Junle [--division-code 12 digits]
  shequctl census import <tenant> <file.xlsx|csv> [--strict]
  shequctl members create <tenant> --username u --role community-staff [--pii-reader] [--email]
  shequctl outbox status [--tenant T]
  shequctl outbox replay --service census --since 2h|2026-11-23T08:00 [--until …] [--tenant T]
  shequctl consumers lag
  shequctl projections rebuild <service> <name> [--tenant T]
  shequctl audit list [--tenant T] [--action pii.] [--actor U] [--since 1d] [--page-token …]

The gateway: --gateway or SHEQUCTL_GATEWAY. The token: SHEQUCTL_TOKEN, else the login cached by
`shequctl login` in ~/.config/shequctl (mode 0600); the issuer: --issuer or SHEQUCTL_ISSUER.
Output: a table, or the gateway's JSON with --json. Errors go to stderr.
Exit codes: 0 done · 1 refused (or an import with refused rows) · 2 usage · 3 unreachable.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from shequctl import commands
from shequctl.session import (
    DEFAULT_GATEWAY,
    DEFAULT_ISSUER,
    EXIT_USAGE,
    CommandError,
    Gateway,
    access_token,
    forget_login,
    password_login,
    save_login,
    usage_error,
)

SERVICES = ("gateway", "census", "grid", "cases", "notify")
ROLES = ("street-admin", "community-staff", "grid-worker", "resident")


class _Parser(argparse.ArgumentParser):
    """Usage errors leave through ``CommandError`` (exit 2), so ``main`` owns every exit."""

    def error(self, message: str) -> None:  # type: ignore[override]  # raises instead
        raise CommandError(f"{self.format_usage()}{self.prog}: error: {message}", EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="shequctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--gateway",
        default=os.environ.get("SHEQUCTL_GATEWAY", DEFAULT_GATEWAY),
        help="网关地址 the gateway's URL (SHEQUCTL_GATEWAY)",
    )
    parser.add_argument("--json", action="store_true", help="输出 JSON the gateway's JSON")
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("SHEQUCTL_TIMEOUT", "600")),
        help="每个请求的超时秒数 seconds per request, imports included (SHEQUCTL_TIMEOUT)",
    )
    commands_ = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    login = commands_.add_parser("login", help="登录 log in and cache the token")
    login.add_argument("--username", help="用户名 (prompted when absent)")
    login.add_argument(
        "--issuer",
        default=os.environ.get("SHEQUCTL_ISSUER", DEFAULT_ISSUER),
        help="the realm's issuer URL (SHEQUCTL_ISSUER)",
    )
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    commands_.add_parser("logout", help="删除缓存的登录 forget the cached login")

    tenants = commands_.add_parser("tenants", help="租户 tenants").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    onboard = tenants.add_parser("onboard", help="启用社区 onboard a community")
    onboard.add_argument("tenant", help="e.g. xiaoshan.shushan.junle")
    onboard.add_argument("--name-zh", required=True)
    onboard.add_argument("--name-en", required=True)
    onboard.add_argument("--division-code", help="12-digit statistical division code")
    onboard.add_argument("--division-code-year", type=int)

    census = commands_.add_parser("census", help="人口 census").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    imports = census.add_parser("import", help="导入居民 import residents (.xlsx/.csv)")
    imports.add_argument("tenant")
    imports.add_argument("file")
    imports.add_argument(
        "--strict", action="store_true", help="任一行有误则全部不导入 any bad row refuses all"
    )

    members = commands_.add_parser("members", help="成员 members").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    create = members.add_parser("create", help="新建成员账号 create an account with a role")
    create.add_argument("tenant")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--display-name", help="显示名 (default: the username)")
    create.add_argument("--email")
    create.add_argument("--pii-reader", action="store_true", help="可查看身份证号、手机号")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the initial password from stdin (default: a random one, printed once)",
    )

    outbox = commands_.add_parser("outbox", help="发件箱 outboxes").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    status = outbox.add_parser("status", help="各服务待发布事件 pending events per service")
    status.add_argument("--tenant")
    replay = outbox.add_parser("replay", help="重放已发布事件 publish sent events again")
    replay.add_argument("--service", required=True, choices=SERVICES)
    replay.add_argument("--since", required=True, help="ISO time (Beijing without offset) or 2h")
    replay.add_argument("--until")
    replay.add_argument("--tenant")
    replay.add_argument("--aggregate", dest="aggregate_id")
    replay.add_argument("--topic")

    consumers = commands_.add_parser("consumers", help="消费组 consumer groups").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    consumers.add_parser("lag", help="积压 lag per group and partition")

    projections = commands_.add_parser("projections", help="投影 projections").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    rebuild = projections.add_parser("rebuild", help="重建投影 rebuild a projection")
    rebuild.add_argument("service", choices=SERVICES)
    rebuild.add_argument("name", help="e.g. census (grid's census projection)")
    rebuild.add_argument("--tenant")
    _add_audit_commands(commands_)
    return parser


def _add_audit_commands(commands_: Any) -> None:
    audit = commands_.add_parser("audit", help="操作日志 the audit log").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    entries = audit.add_parser("list", help="管理操作，新的在前 administrative actions")
    entries.add_argument("--tenant", help="街道或社区 a street or community (default: platform)")
    # Not dest="action": that names the subcommand.
    entries.add_argument("--action", dest="action_prefix", help="操作类型前缀 e.g. pii.")
    entries.add_argument("--actor", help="操作人用户名 the actor's user name")
    entries.add_argument("--since", help="ISO time (Beijing without offset) or 2h")
    entries.add_argument("--until")
    entries.add_argument("--limit", type=int, default=50, help="每页条数 entries per page")
    entries.add_argument("--page-token", dest="page_token")


def _read_password(args: argparse.Namespace, stdin: TextIO, prompt: str) -> str:
    if args.password_stdin:
        return stdin.readline().rstrip("\n")
    return getpass.getpass(prompt)


def _login(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, timeout: float) -> int:
    username = args.username or input("用户名 username: ").strip()
    if not username:
        raise usage_error("请提供用户名 / a username is needed")
    password = _read_password(args, stdin, "密码 password: ")
    login = password_login(args.issuer, username, password, timeout_s=timeout)
    path = save_login(login)
    print(f"已登录 logged in as {username}; token cached in {path}", file=stdout)
    return 0


def _run(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    if args.command == "login":
        return _login(args, stdin, stdout, args.timeout)
    if args.command == "logout":
        forgotten = forget_login()
        print("已退出 logged out" if forgotten else "本来就未登录 was not logged in", file=stdout)
        return 0
    password = (
        _read_password(args, stdin, "初始密码 initial password: ")
        if args.command == "members" and args.password_stdin
        else None
    )
    chosen: dict[tuple[str, str], Callable[[Gateway, argparse.Namespace], commands.Outcome]] = {
        ("tenants", "onboard"): commands.onboard_tenant,
        ("census", "import"): commands.import_census,
        ("members", "create"): lambda g, a: commands.create_member(g, a, password),
        ("outbox", "status"): commands.outbox_status,
        ("outbox", "replay"): commands.outbox_replay,
        ("consumers", "lag"): commands.consumer_lag,
        ("projections", "rebuild"): commands.rebuild_projection,
        ("audit", "list"): commands.audit_log,
    }
    command = chosen[(args.command, args.action)]
    token = access_token(timeout_s=args.timeout)
    with Gateway(args.gateway, token, timeout_s=args.timeout) as gateway:
        outcome = command(gateway, args)
    if args.json:
        print(json.dumps(outcome.data, ensure_ascii=False, indent=2), file=stdout)
    else:
        print(outcome.text, file=stdout)
    return outcome.exit_code


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
        return _run(args, stdin or sys.stdin, out)
    except CommandError as error:
        print(error.message, file=err)
        return error.exit_code
    except KeyboardInterrupt:
        print("已中断 interrupted", file=err)
        return 130


if __name__ == "__main__":
    sys.exit(main())
