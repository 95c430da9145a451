"""Demo settings for `make run`, for Shibei (the demo community with census data and grids):
its quiet hours (the defaults, written down so staff see and edit them), a residents' group
robot per complex posting to the local robot sink (``NotifySettings.wecom_seed_webhook``), the
demo resident account ``shibei-resident`` linked to a seeded resident (so its inbox gets the
resident's notices), and e-mail addresses for a deterministic tenth of the residents.

Idempotent: rows already there are left as they are (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Final

import grpc
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from notify import audiences
from notify.app import NotifyCore
from notify.models import ContactRow, RobotRow, TenantSettingsRow
from shequ.census.v1 import census_pb2 as cpb
from shequ.common.v1 import paging_pb2
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.tenancy import TenantId

SHIBEI: Final = TenantId("xiaoshan.beigan.shibei")
# The Keycloak subject of the demo resident account (fixed in deploy/local/realm-shequ.json).
SHIBEI_RESIDENT_SUBJECT: Final = "8b4e3d2c-5a6f-4071-8b92-4d6e8f0a2c35"
EMAIL_SHARE: Final = 10  # one resident in ten has an e-mail address
PAGE: Final = 500


def seed_demo(core: NotifyCore) -> dict[str, str]:
    """Seed Shibei; returns what was done, per tenant."""
    return {SHIBEI.value: seed_community(core, SHIBEI)}


def seed_community(core: NotifyCore, tenant: TenantId) -> str:
    complexes = sorted(_complexes(core, tenant), key=lambda c: (c.name, c.id))
    everyone = audiences.stream_residents(core, tenant, cpb.StreamResidentsInPlacesRequest())
    residents = sorted(everyone, key=lambda r: r.resident_id)
    with core.writing(tenant) as session:
        session.execute(
            insert(TenantSettingsRow)
            .values(
                tenant_id=tenant.value,
                quiet_start=core.settings.quiet_start,
                quiet_end=core.settings.quiet_end,
                version=1,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        robots = [
            {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"notify-robot:{tenant}:{c.id}"),
                "tenant_id": tenant.value,
                "name": f"{c.name}居民群",
                "complex_id": uuid.UUID(c.id),
                "webhook_url": core.settings.wecom_seed_webhook.format(n=n),
            }
            for n, c in enumerate(complexes, start=1)
        ]
        if robots:
            session.execute(
                insert(RobotRow)
                .values(robots)
                .on_conflict_do_nothing(constraint="uq_robot_complex")
            )
        linked = session.scalar(
            select(ContactRow.resident_id).where(
                ContactRow.account_subject == SHIBEI_RESIDENT_SUBJECT
            )
        )
        account_holder = next((r for r in residents if r.has_phone), None)
        contacts = [
            {
                "tenant_id": tenant.value,
                "resident_id": uuid.UUID(r.resident_id),
                "email": f"jumin-{r.resident_id[:8]}@example.org",
                "opted_out": [],
                "version": 1,
            }
            for r in residents
            if _gets_email(r.resident_id)
        ]
        if linked is None and account_holder is not None:
            session.execute(
                insert(ContactRow)
                .values(
                    tenant_id=tenant.value,
                    resident_id=uuid.UUID(account_holder.resident_id),
                    account_subject=SHIBEI_RESIDENT_SUBJECT,
                    opted_out=[],
                    version=1,
                )
                .on_conflict_do_update(
                    index_elements=["tenant_id", "resident_id"],
                    set_={"account_subject": SHIBEI_RESIDENT_SUBJECT},
                )
            )
        for start in range(0, len(contacts), PAGE):
            session.execute(
                insert(ContactRow)
                .values(contacts[start : start + PAGE])
                .on_conflict_do_nothing(index_elements=["tenant_id", "resident_id"])
            )
    holder = account_holder.resident_id if account_holder else "nobody"
    return (
        f"{len(robots)} complex robots, {len(contacts)} e-mail contacts of {len(residents)} "
        f"residents; shibei-resident is resident {linked or holder}"
    )


def _gets_email(resident_id: str) -> bool:
    """One resident in ten, the same ones on every run."""
    digest = hashlib.sha256(resident_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % EMAIL_SHARE == 0


def _complexes(core: NotifyCore, tenant: TenantId) -> Iterator[cpb.Complex]:
    token = ""
    while True:
        try:
            response: cpb.ListComplexesResponse = core.census.ListComplexes(
                cpb.ListComplexesRequest(
                    page=paging_pb2.PageRequest(page_size=PAGE, page_token=token)
                ),
                metadata=core.upstream_metadata(tenant),
            )
        except grpc.RpcError as error:
            raise _census_unavailable("ListComplexes", error) from error
        yield from response.complexes
        token = response.page.next_page_token
        if not token:
            return


def _census_unavailable(method: str, error: grpc.RpcError) -> DomainError:
    return DomainError(
        "notify.census_unavailable",
        "暂时无法从普查服务读取演示数据，请稍后重试",
        f"census {method} failed: {error.code()}",
        ErrorKind.UNAVAILABLE,
    )
