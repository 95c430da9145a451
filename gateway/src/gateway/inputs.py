"""What every request's input must satisfy, whatever the route: checked once for all routes.

Two characters pass JSON parsing and pydantic's ``str`` but can never be kept: NUL (U+0000),
which PostgreSQL refuses in text and JSON columns, and an unpaired surrogate (``"\\ud800"``),
which is not a character at all and cannot be encoded as UTF-8 for the services. A request
carrying either anywhere — a body field or key, a query parameter, a path segment, a form
field — is refused with a 422 naming the field before any service sees it, instead of failing
deep inside a service as an internal error.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any, Final

from fastapi import Request

from shequ_kit.errors import FieldViolation, invalid_input

# The largest numbers proto int64 (optimistic versions) and int32 (counts) fields carry: a
# larger one cannot be sent on to a service. Services name their own, lower limits.
MAX_VERSION: Final = 2**63 - 1
MAX_INT32: Final = 2**31 - 1

_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")
_FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _texts(value: Any, location: str) -> Iterator[tuple[str, str]]:
    """Every string in a decoded JSON value, keys included, with its field named as request
    validation names it (``body.place.address``, ``body.audience.building_ids.2``)."""
    if isinstance(value, str):
        yield location, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{location}.{key}", str(key)
            yield from _texts(item, f"{location}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _texts(item, f"{location}.{index}")


async def _request_texts(request: Request) -> list[tuple[str, str]]:
    texts = [
        *((f"path.{name}", str(value)) for name, value in request.path_params.items()),
        *((f"query.{name}", value) for name, value in request.query_params.multi_items()),
    ]
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        # Not JSON (or nested past the parser): the route's own validation and the gateway's
        # depth limit say so. Parsed once: Starlette keeps the parse, FastAPI reads it too.
        with contextlib.suppress(ValueError, RecursionError):
            texts.extend(_texts(await request.json(), "body"))
    elif media_type in _FORM_TYPES:
        form = await request.form()
        texts.extend((f"body.{k}", v) for k, v in form.multi_items() if isinstance(v, str))
    return texts


async def refuse_unstorable_text(request: Request) -> None:
    """A dependency of every route: 422 naming each field that holds NUL or an unpaired
    surrogate."""
    violations = []
    for field, text in await _request_texts(request):
        found = _UNSTORABLE.search(text)
        if found is not None:
            what = "NUL (U+0000)" if found.group() == "\x00" else "an unpaired surrogate"
            # The field's name may be the offending key itself: named without the character.
            violations.append(FieldViolation(_UNSTORABLE.sub("\ufffd", field), f"contains {what}"))
    if violations:
        raise invalid_input(
            "request.unstorable_text",
            "文本中含有无法保存的字符（空字符 U+0000 或不成对的代理项），请删除后重试",
            "text holds a character that cannot be stored (NUL or an unpaired surrogate)",
            *violations,
        )
