"""GeoReport v2 documents in the two representations the specification names: JSON and XML.

A document is a root element name and a body of plain values (dicts, lists, strings, numbers,
booleans, None). JSON is the body itself. XML follows the specification's examples: the root
element wraps the body; a list is a run of elements named by ``ITEM_NAMES`` after its
container (``<services><service>…``), a dict is a run of child elements, None is an empty
element, booleans are ``true``/``false``. The tree is built with ``xml.etree`` (which escapes
every value) and encoded as UTF-8 behind an XML declaration, as the specification requires.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from fastapi.responses import Response

from shequ_kit.errors import DomainError, ErrorKind

JSON_MEDIA_TYPE = "application/json"
XML_MEDIA_TYPE = "text/xml"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# The element each list's items are called, by the list's own element name.
ITEM_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "services": "service",
        "service_requests": "request",
        "attributes": "attribute",
        "values": "value",
        "endpoints": "endpoint",
        "formats": "format",
        "errors": "error",
    }
)
# Characters XML 1.0 cannot carry at all, not even escaped (C0 controls other than tab, line
# feed and carriage return; surrogates; U+FFFE/U+FFFF). A resident's text may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Representation(StrEnum):
    """The format suffix of a GeoReport path (``services.json``, ``services.xml``)."""

    JSON = "json"
    XML = "xml"

    @property
    def media_type(self) -> str:
        return JSON_MEDIA_TYPE if self is Representation.JSON else XML_MEDIA_TYPE

    @classmethod
    def of_suffix(cls, suffix: str) -> Representation:
        """The representation a path asks for; 404 for any other suffix (no such resource)."""
        try:
            return cls(suffix)
        except ValueError:
            raise DomainError(
                "open311.format_unknown",
                f"不支持的格式 .{suffix[:20]}，请使用 .json 或 .xml",
                f"format .{suffix[:20]} is not served; use .json or .xml",
                ErrorKind.NOT_FOUND,
            ) from None


@dataclass(frozen=True)
class Document:
    root: str
    body: list[Any] | dict[str, Any]


def render(
    document: Document,
    representation: Representation,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    content = json_bytes(document) if representation is Representation.JSON else xml_bytes(document)
    return Response(
        content,
        status_code=status_code,
        media_type=f"{representation.media_type}; charset=utf-8",
        headers=dict(headers or {}),
    )


def json_bytes(document: Document) -> bytes:
    return json.dumps(document.body, ensure_ascii=False, allow_nan=False).encode("utf-8")


def xml_bytes(document: Document) -> bytes:
    root = ET.Element(document.root)
    _fill(root, document.root, document.body)
    return XML_DECLARATION + ET.tostring(root, encoding="unicode").encode("utf-8")


def _fill(element: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), key, child)
    elif isinstance(value, list):
        item_name = ITEM_NAMES[name]
        for item in value:
            _fill(ET.SubElement(element, item_name), item_name, item)
    else:
        element.text = _text(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a GeoReport number must be finite, not {value}")
        return repr(value)
    return _NOT_XML.sub("", str(value))
