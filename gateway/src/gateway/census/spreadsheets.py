"""Spreadsheet downloads of the census: the import template and the resident export.

- ``GET imports/template?format=xlsx|csv`` — the empty template with Chinese headers.
- ``GET residents/export?format=…&<filters>`` — residents in the template's shape, ID numbers
  and phones masked (the file says so).
- ``POST residents/export`` ``{"reveal_reason": "…", "format": …, <filters>}`` — unmasked, for
  ``pii-reader``s; the reason goes in the body because URLs end up in access and proxy logs,
  and the census audits every exported record.

The file streams through as the census produces it. The census's refusals (no role, a bad
filter) come before its first message, so they are still problem+json; once the first message
is in, the download has begun.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import PurePath
from typing import Annotated, Final
from urllib.parse import quote

import grpc
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from gateway.access import READERS, admits
from gateway.census.models import (
    SPREADSHEET_FORMATS,
    ResidentExportFilters,
    RevealedResidentExport,
    SpreadsheetFormat,
)
from gateway.census.views import Census
from gateway.census.views import router as census_router
from gateway.problems import SERVICE_FAULT, problem
from shequ.census.v1 import census_pb2 as pb
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.tokens import Role

# The census routes' prefix and tag: one group in the OpenAPI document. Included before the
# census router, so that residents/export is not taken for a resident id.
router = APIRouter(prefix=census_router.prefix, tags=list(census_router.tags))
log = logging.getLogger(__name__)

# A street's export reads and writes ~100,000 rows; an ordinary call's deadline is far shorter.
EXPORT_TIMEOUT_S: Final = 300.0
# What the 200 of each route carries, for the OpenAPI document.
_FILE: Final = {"schema": {"type": "string", "format": "binary"}}
SPREADSHEET_CONTENT: Final = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _FILE,
    "text/csv": _FILE,
}
# Personal data: neither a browser nor a proxy keeps a copy.
NO_STORE: Final = {"Cache-Control": "no-store"}


def attachment(file_name: str) -> str:
    """``Content-Disposition`` for a Chinese file name (RFC 6266 / RFC 5987 ``filename*``),
    with an ASCII name beside it for clients that know only ``filename``."""
    fallback = "census" + PurePath(file_name).suffix
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


@router.get(
    "/imports/template",
    operation_id="getImportTemplate",
    openapi_extra=admits(*READERS),
    response_class=Response,
    responses={
        200: {"description": "居民导入模板 The import template", "content": SPREADSHEET_CONTENT}
    },
)
def get_import_template(
    census: Census,
    format: Annotated[  # shadows the builtin: it is the public parameter name
        SpreadsheetFormat, Query(description="文件格式 File format")
    ] = "xlsx",
) -> Response:
    """下载居民导入模板（中文表头；xlsx 含下拉选项和填写说明）。
    Download the resident import template (Chinese headers; the xlsx has dropdowns and notes)."""
    reply: pb.GetImportTemplateResponse = census.stub.GetImportTemplate(
        pb.GetImportTemplateRequest(format=SPREADSHEET_FORMATS[format]), **census.options
    )
    return Response(
        reply.content,
        media_type=reply.content_type,
        headers={"Content-Disposition": attachment(reply.file_name)},
    )


@router.get(
    "/residents/export",
    operation_id="exportResidents",
    openapi_extra=admits(*READERS),
    response_class=StreamingResponse,
    responses={
        200: {"description": "居民信息表（脱敏） Residents, masked", "content": SPREADSHEET_CONTENT}
    },
)
def export_residents(
    request: Request,
    census: Census,
    filters: Annotated[ResidentExportFilters, Query()],
    reveal_reason: Annotated[
        str | None,
        Query(
            max_length=500,
            description="不受理：改用 POST …/residents/export。Refused, use the POST export",
        ),
    ] = None,
) -> Response:
    """导出居民（导入模板格式，身份证号、手机号脱敏，文件名注明“已脱敏”）。
    Export residents in the import template's shape; ID numbers and phones masked."""
    if reveal_reason:
        # A URL lands in access logs and proxies: the reason names a person's business.
        raise invalid_input(
            "request.reveal_reason_in_url",
            "导出原因不能放在网址里，请用 POST /residents/export 提交",
            "the reveal reason does not go into the URL (it ends up in logs); POST it",
            FieldViolation("reveal_reason", "use POST /residents/export"),
        )
    return streamed_export(request, census, filters.to_proto())


@router.post(
    "/residents/export",
    operation_id="exportResidentsRevealed",
    openapi_extra=admits(*READERS, also=Role.PII_READER),
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "居民信息表（未脱敏） Residents, unmasked",
            "content": SPREADSHEET_CONTENT,
        }
    },
)
def export_residents_revealed(
    request: Request, census: Census, body: RevealedResidentExport
) -> Response:
    """不脱敏导出居民（须 pii-reader 角色并填写理由；每条记录记入审计）。
    Export residents unmasked: pii-reader holders, with a reason; every record is audited."""
    return streamed_export(request, census, body.to_proto(reveal_reason=body.reveal_reason))


def streamed_export(
    request: Request, census: Census, export: pb.ExportResidentsRequest
) -> Response:
    replies = census.stub.ExportResidents(export, **{**census.options, "timeout": EXPORT_TIMEOUT_S})
    # Refusals arrive here, before any byte is sent, and become problems as usual.
    first: pb.ExportResidentsResponse | None = next(replies, None)
    if first is None or not first.file_name:
        replies.cancel()
        return contract_broken(request)
    return StreamingResponse(
        file_bytes(first, replies),
        media_type=first.content_type,
        headers={"Content-Disposition": attachment(first.file_name), **NO_STORE},
    )


def file_bytes(
    first: pb.ExportResidentsResponse, replies: Iterator[pb.ExportResidentsResponse]
) -> Iterator[bytes]:
    try:
        if first.chunk:
            yield first.chunk
        for reply in replies:
            yield reply.chunk
    except grpc.RpcError as error:
        # The response has begun: the client sees a broken download, the log says why.
        log.warning("export broke off: %s", error.code() if isinstance(error, grpc.Call) else error)
        raise
    finally:
        # A client that goes away stops the census reading (and auditing) further rows.
        if isinstance(replies, grpc.RpcContext):
            replies.cancel()


def contract_broken(request: Request) -> JSONResponse:
    return problem(
        request,
        SERVICE_FAULT,
        code="service.failed",
        detail="后台服务出错，请稍后重试或联系运维",
        detail_en="the census sent no file name before the file",
    )
