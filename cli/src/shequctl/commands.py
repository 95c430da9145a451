"""One function per command: the REST call(s), then what to print.

Each returns an ``Outcome``: the JSON to print with ``--json``, the human text otherwise, and
the exit code (a census import with refused rows exits 1).
"""

from __future__ import annotations

import argparse
import mimetypes
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from shequctl.session import EXIT_REFUSED, Gateway, usage_error
from shequctl.tables import render_table, seconds

_RELATIVE: Final = re.compile(r"^(\d+)([smhd])$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Outcome:
    data: Any
    text: str
    exit_code: int = 0


def moment(value: str, option: str) -> str:
    """An instant for the gateway: ISO 8601 as given (without an offset the gateway reads
    Beijing time), or a duration ago (``90m``, ``2h``, ``3d``) as UTC."""
    relative = _RELATIVE.match(value.strip())
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        return (datetime.now(UTC) - timedelta(**{unit: amount})).isoformat(timespec="seconds")
    try:
        datetime.fromisoformat(value)
    except ValueError as error:
        raise usage_error(
            f"{option} 须为 ISO 时间（如 2026-11-23T08:00）或时长（如 2h、3d） / "
            f"{option} must be an ISO 8601 time or a duration such as 2h or 3d: {value!r}"
        ) from error
    return value


# ---- tenants, census, members ----


def onboard_tenant(gateway: Gateway, args: argparse.Namespace) -> Outcome:
    body: dict[str, Any] = {"id": args.tenant, "name_zh": args.name_zh, "name_en": args.name_en}
    if args.division_code:
        body["division_code"] = args.division_code
    if args.division_code_year:
        body["division_code_year"] = args.division_code_year
    status, node = gateway.call("POST", "/api/v1/tenants", json=body)
    verdict = "已启用 onboarded" if status == 201 else "此前已启用，未作改动 already onboarded"
    text = "\n".join(
        [
            f"{node['id']}  {node['name_zh']} ({node['name_en']})  {verdict}",
            f"状态 status: {node['status']}   区划代码 division code: "
            f"{node.get('division_code') or '-'}",
        ]
    )
    return Outcome(node, text)


def import_census(gateway: Gateway, args: argparse.Namespace) -> Outcome:
    path = Path(args.file)
    if not path.is_file():
        raise usage_error(f"找不到文件 / no such file: {path}")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    with path.open("rb") as upload:
        _, report = gateway.call(
            "POST",
            f"/api/v1/tenants/{args.tenant}/imports",
            files={"file": (path.name, upload, content_type)},
            data={"strict": "true" if args.strict else "false"},
        )
    rejected = report["rejected"]
    lines = [
        f"文件 file: {path.name}   导入编号 import: {report['import_id']}",
        f"数据行 rows: {report['rows_total']}   已导入 imported: {report['rows_imported']}   "
        f"有误 refused: {len(rejected)}",
    ]
    if report["already_imported"]:
        lines.append("同一文件此前已导入，本次未重复写入 / the same file was imported before")
    if rejected:
        if args.strict:
            lines.append("严格模式：有误行存在，整个文件未导入 / strict: nothing was imported")
        lines += [
            "",
            render_table(
                ["行 row", "列 column", "问题 problem"],
                [
                    [r["row"], r["column"], f"{r['message_zh']} / {r['message_en']}"]
                    for r in rejected
                ],
                numeric=[0],
            ),
        ]
    return Outcome(report, "\n".join(lines), EXIT_REFUSED if rejected else 0)


def create_member(gateway: Gateway, args: argparse.Namespace, password: str | None) -> Outcome:
    # Without a password given, a random one that must be changed at the first login.
    initial = password or secrets.token_urlsafe(12)
    body: dict[str, Any] = {
        "username": args.username,
        "display_name": args.display_name or args.username,
        "role": args.role,
        "pii_reader": args.pii_reader,
        "initial_password": initial,
        "temporary_password": True,
    }
    if args.email:
        body["email"] = args.email
    _, member = gateway.call("POST", f"/api/v1/tenants/{args.tenant}/members", json=body)
    shown = dict(member)
    lines = [
        f"{member['username']} ({member['display_name']})  id {member['id']}",
        f"角色 roles: {', '.join(member['roles'])}   租户 tenant: {args.tenant}",
    ]
    if password is None:
        shown["initial_password"] = initial
        lines.append(
            f"初始密码（首次登录须修改） initial password, change it at first login: {initial}"
        )
    return Outcome(shown, "\n".join(lines))


# ---- operations ----


def outbox_status(gateway: Gateway, args: argparse.Namespace) -> Outcome:
    params = {"tenant": args.tenant} if args.tenant else None
    _, overview = gateway.call("GET", "/api/v1/ops/outbox", params=params)
    rows: list[list[object]] = []
    for entry in overview["services"]:
        if entry.get("error"):
            error = entry["error"]
            rows.append([entry["service"], f"无应答 no answer: {error['code']}", "-", "-", "-"])
            continue
        rows.append(
            [
                entry["service"],
                "(合计 all)",
                entry["pending"],
                seconds(entry["oldest_pending_age_seconds"]) if entry["pending"] else "-",
                entry["published_last_hour"],
            ]
        )
        rows += [
            [
                "",
                topic["topic"],
                topic["pending"],
                seconds(topic["oldest_pending_age_seconds"]) if topic["pending"] else "-",
                topic["published_last_hour"],
            ]
            for topic in entry["topics"]
        ]
    text = render_table(
        ["服务 service", "主题 topic", "待发布 pending", "最早 oldest", "近1小时 last hour"],
        rows,
        numeric=[2, 3, 4],
    )
    return Outcome(overview, text)


def outbox_replay(gateway: Gateway, args: argparse.Namespace) -> Outcome:
    body: dict[str, Any] = {"service": args.service, "since": moment(args.since, "--since")}
    if args.until:
        body["until"] = moment(args.until, "--until")
    for option in ("tenant", "aggregate_id", "topic"):
        if getattr(args, option):
            body[option] = getattr(args, option)
    _, reply = gateway.call("POST", "/api/v1/ops/outbox/replay", json=body)
    text = (
        f"{reply['service']}: {reply['replayed']} 条事件已重新排队发布 / "
        f"{reply['replayed']} event(s) queued to be published again"
    )
    return Outcome(reply, text)


def consumer_lag(gateway: Gateway, _args: argparse.Namespace) -> Outcome:
    _, overview = gateway.call("GET", "/api/v1/ops/consumers")
    rows: list[list[object]] = []
    for entry in overview["services"]:
        if entry.get("error"):
            rows.append(
                [entry["service"], f"无应答 no answer: {entry['error']['code']}", "", "", "", ""]
            )
            continue
        for group in entry["groups"]:
            rows.append(
                [
                    entry["service"],
                    group["group"],
                    "(合计 all)",
                    group["lag"],
                    group["processed_events"],
                    group["processed_last_hour"],
                ]
            )
            rows += [
                ["", "", f"{p['topic']}[{p['partition']}]", p["lag"], "", ""]
                for p in group["partitions"]
            ]
    text = render_table(
        [
            "服务 service",
            "消费组 group",
            "分区 partition",
            "积压 lag",
            "已处理 processed",
            "近1小时 last hour",
        ],
        rows,
        numeric=[3, 4, 5],
    )
    return Outcome(overview, text)


def rebuild_projection(gateway: Gateway, args: argparse.Namespace) -> Outcome:
    body = {"tenant": args.tenant} if args.tenant else {}
    _, reply = gateway.call(
        "POST", f"/api/v1/ops/projections/{args.service}/{args.name}/rebuild", json=body
    )
    text = (
        f"{reply['service']}/{reply['name']}: 重建 rebuilt {len(reply['tenant_ids'])} 个社区 "
        f"communities, {reply['rows']} 行 rows\n" + "\n".join(reply["tenant_ids"])
    )
    return Outcome(reply, text.rstrip())


# ---- the audit log ----


def audit_log(gateway: Gateway, args: argparse.Namespace) -> Outcome:
    """One page of the administrative actions of a tenant's subtree (without --tenant: the
    whole platform's, for platform administrators), newest first."""
    params: dict[str, Any] = {"page_size": args.limit}
    if args.action_prefix:
        params["action"] = args.action_prefix
    for option in ("actor", "page_token"):
        if getattr(args, option):
            params[option] = getattr(args, option)
    if args.since:
        params["since"] = moment(args.since, "--since")
    if args.until:
        params["until"] = moment(args.until, "--until")
    path = f"/api/v1/tenants/{args.tenant}/audit" if args.tenant else "/api/v1/audit"
    _, page = gateway.call("GET", path, params=params)
    rows = [
        [
            # Beijing time as the gateway gives it, to the second.
            item["occurred_at"][:19].replace("T", " "),
            item["actor_name"],
            item["action"],
            item["tenant_id"] or "(平台 platform)",
            item["summary"],
        ]
        for item in page["items"]
    ]
    text = render_table(
        ["时间 time", "操作人 actor", "操作 action", "租户 tenant", "摘要 summary"], rows
    )
    if page["next_page_token"]:
        text += f"\n更多 more: --page-token {page['next_page_token']}"
    return Outcome(page, text)
