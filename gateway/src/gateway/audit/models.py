"""REST shapes of the audit log (/api/v1/tenants/{tenant}/audit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from gateway.census.models import Page
from gateway.grid.models import SHANGHAI
from shequ.ops.v1 import ops_pb2


class AuditEntryOut(BaseModel):
    """一条管理操作记录。One administrative action, as the log of the process that did it holds
    it: entries cannot be changed or deleted."""

    id: str
    service: str = Field(
        description="记录该操作的服务 The process whose log holds it", examples=["census"]
    )
    tenant_id: str | None = Field(
        description="操作涉及的租户；为空表示整个平台 The tenant concerned; null: the platform",
        examples=["xiaoshan.shushan.hushan"],
    )
    occurred_at: datetime = Field(description="操作时间（北京时间） When, Asia/Shanghai")
    actor_name: str = Field(description="操作人用户名 Who did it", examples=["hushan-pii"])
    actor_subject: str = Field(description="操作人账号标识 The actor's token subject")
    action: str = Field(
        description="操作类型 Dotted action code",
        examples=["pii.revealed", "member.created", "grid_plan.applied"],
    )
    target_kind: str = Field(description="操作对象类型 What it was done to", examples=["resident"])
    target_id: str = Field(description="操作对象编号 Its id")
    summary: str = Field(description="中文摘要", examples=["查看一位居民未脱敏的身份证号和手机号"])
    summary_en: str = Field(description="English summary")
    detail: dict[str, Any] = Field(
        description="编号、数量与查看理由，不含明文个人信息 Ids, counts and a reveal's reason; "
        "never personal data in clear"
    )
    request_id: str | None = Field(description="请求编号 The request that did it (X-Request-ID)")

    @classmethod
    def of(cls, entry: ops_pb2.AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            service=entry.service,
            tenant_id=entry.tenant_id or None,
            occurred_at=entry.occurred_at.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI),
            actor_name=entry.actor_name,
            actor_subject=entry.actor_subject,
            action=entry.action,
            target_kind=entry.target_kind,
            target_id=entry.target_id,
            summary=entry.summary_zh,
            summary_en=entry.summary_en,
            detail=json.loads(entry.detail_json) if entry.detail_json else {},
            request_id=entry.request_id or None,
        )


class AuditPage(Page[AuditEntryOut]):
    pass
