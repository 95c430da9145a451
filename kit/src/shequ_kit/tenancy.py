"""Tenant ids and the tenant of the current request.

A tenant id is a lower-case dotted path from the district down:
``xiaoshan`` → ``xiaoshan.shushan`` (street) → ``xiaoshan.shushan.hushan`` (community).
A grant on a node covers its whole subtree. The tenant of the current call lives in a context
variable, set by the gRPC and HTTP layers (metadata ``x-tenant-id``, Kafka header ``ce_tenant``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

TENANT_METADATA_KEY: Final = "x-tenant-id"
TENANT_EVENT_HEADER: Final = "ce_tenant"
MAX_DEPTH: Final = 5
# district → street → community (ARCHITECTURE.md): domain data belongs to a community.
COMMUNITY_DEPTH: Final = 3
_SEGMENT = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
# Role group names share Keycloak's group tree with tenant nodes, so they can't be slugs.
RESERVED_SEGMENTS: Final = frozenset(
    {
        "platform-admin",
        "street-admin",
        "community-staff",
        "grid-worker",
        "resident",
        "pii-reader",
    }
)


class InvalidTenantIdError(ValueError):
    pass


class MissingTenantError(RuntimeError):
    """Tenant-scoped work was attempted with no tenant in context."""


@dataclass(frozen=True, order=True)
class TenantId:
    """A validated dotted tenant path."""

    value: str

    def __post_init__(self) -> None:
        segments = self.value.split(".")
        if not self.value or len(segments) > MAX_DEPTH:
            raise InvalidTenantIdError(f"tenant id must have 1 to {MAX_DEPTH} segments")
        for segment in segments:
            if not _SEGMENT.match(segment):
                raise InvalidTenantIdError(
                    f"tenant id segment {segment!r} must be lower-case letters, digits or '-', "
                    "starting with a letter, at most 40 characters"
                )
            if segment in RESERVED_SEGMENTS:
                raise InvalidTenantIdError(f"{segment!r} is a role name, not a tenant")

    @classmethod
    def parse(cls, raw: str) -> TenantId:
        return cls(raw.strip())

    def __str__(self) -> str:
        return self.value

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.value.split("."))

    @property
    def depth(self) -> int:
        return len(self.segments)

    @property
    def is_community(self) -> bool:
        return self.depth == COMMUNITY_DEPTH

    @property
    def parent(self) -> TenantId | None:
        head, _, _ = self.value.rpartition(".")
        return TenantId(head) if head else None

    def ancestors(self) -> list[TenantId]:
        """From the root down, excluding this node."""
        parts = self.segments
        return [TenantId(".".join(parts[:i])) for i in range(1, len(parts))]

    def child(self, slug: str) -> TenantId:
        return TenantId(f"{self.value}.{slug}")

    def contains(self, other: TenantId) -> bool:
        """True if ``other`` is this node or lies in its subtree."""
        return other.value == self.value or other.value.startswith(self.value + ".")

    def is_ancestor_of(self, other: TenantId) -> bool:
        return other.value.startswith(self.value + ".")

    @property
    def group_path(self) -> str:
        """Keycloak group path of this node: ``/xiaoshan/shushan/hushan``."""
        return "/" + "/".join(self.segments)


_current_tenant: ContextVar[TenantId | None] = ContextVar("shequ_tenant", default=None)


def current_tenant() -> TenantId | None:
    return _current_tenant.get()


def require_tenant() -> TenantId:
    """The tenant of the current call; raises if there is none."""
    tenant = _current_tenant.get()
    if tenant is None:
        raise MissingTenantError("no tenant in context: tenant-scoped work needs tenant_scope()")
    return tenant


@contextmanager
def tenant_scope(tenant: TenantId | str) -> Iterator[TenantId]:
    """Run the block on behalf of ``tenant`` (and, for reads, its subtree)."""
    resolved = tenant if isinstance(tenant, TenantId) else TenantId.parse(tenant)
    token = _current_tenant.set(resolved)
    try:
        yield resolved
    finally:
        _current_tenant.reset(token)
