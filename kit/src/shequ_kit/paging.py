"""Cursor pagination, the same for every list RPC (``shequ.common.v1.PageRequest``).

A page token is the sort key of the last item served, base64url-encoded JSON: opaque to
clients, stable while rows are inserted (unlike offsets), and cheap for PostgreSQL (a keyset
condition on an index instead of OFFSET).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shequ.common.v1 import paging_pb2
from shequ_kit.errors import FieldViolation, invalid_input

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page:
    size: int
    after: list[Any] | None  # the sort key of the last item of the previous page


def encode_token(sort_key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(sort_key, default=str).encode()).decode()


def _foreign_token() -> Exception:
    return invalid_input(
        "paging.page_token",
        "分页标记无效，请从第一页重新开始",
        "page_token is not one this server issued",
        FieldViolation("page.page_token", "not a token from a previous page"),
    )


def sort_key(page: Page, *kinds: Callable[[Any], Any]) -> tuple[Any, ...] | None:
    """The previous page's sort key, each part converted by ``kinds`` (e.g. ``str``,
    ``uuid.UUID``); None on the first page. A decodable token whose key does not fit is refused
    like any token this server did not issue."""
    if page.after is None:
        return None
    if len(page.after) != len(kinds):
        raise _foreign_token()
    try:
        return tuple(kind(part) for kind, part in zip(kinds, page.after, strict=True))
    except (ValueError, TypeError, AttributeError) as error:
        raise _foreign_token() from error


def page_of(request: paging_pb2.PageRequest) -> Page:
    """The page a request asks for; a bad size or a token we did not issue is a clear error."""
    if request.page_size < 0:
        raise invalid_input(
            "paging.page_size",
            "每页条数不能为负数",
            "page_size must not be negative",
            FieldViolation("page.page_size", "must be ≥ 0"),
        )
    size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not request.page_token:
        return Page(size=size, after=None)
    try:
        after = json.loads(base64.urlsafe_b64decode(request.page_token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise invalid_input(
            "paging.page_token",
            "分页标记无效，请从第一页重新开始",
            "page_token is not one this server issued",
            FieldViolation("page.page_token", "not a token from a previous page"),
        ) from error
    if not isinstance(after, list):
        raise invalid_input(
            "paging.page_token",
            "分页标记无效，请从第一页重新开始",
            "page_token is not one this server issued",
            FieldViolation("page.page_token", "not a token from a previous page"),
        )
    return Page(size=size, after=after)


def page_response(
    items: Sequence[T], page: Page, sort_key_of: Callable[[T], list[Any]]
) -> paging_pb2.PageResponse:
    """The response for ``items`` fetched with ``page.size + 1`` rows (one extra tells
    whether there is a next page)."""
    if len(items) > page.size:
        return paging_pb2.PageResponse(
            next_page_token=encode_token(sort_key_of(items[page.size - 1])), total_size=-1
        )
    return paging_pb2.PageResponse(next_page_token="", total_size=-1)
