"""Who handles a case: the grid service's coverage answer turned into an assignee per level.

"小事不出楼栋": a located case goes to the micro-grid leader covering its building; the grid
worker, the grid leader and the community queue are the next rungs. A case nobody covers goes
to the community queue, and a street-level case to the street queue. Members with a login are
preferred at each rung, so the person assigned can act on the case themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from cases.lifecycle import Level
from shequ.common.v1 import paging_pb2
from shequ.grid.v1 import grid_pb2 as gpb
from shequ.grid.v1 import grid_pb2_grpc
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input
from shequ_kit.grpc_client import make_channel
from shequ_kit.service_tokens import ServiceCredentials
from shequ_kit.tenancy import TenantId

COMMUNITY_QUEUE = "queue:community"
STREET_QUEUE = "queue:street"
MEMBER_PAGE = 500

# The grid roles answering at each level of a case, in order of preference.
_RUNGS: dict[Level, tuple[gpb.EscalationLevel.ValueType, ...]] = {
    Level.MICRO_GRID: (
        gpb.ESCALATION_LEVEL_MICRO_GRID_LEADER,
        gpb.ESCALATION_LEVEL_GRID_WORKER,
        gpb.ESCALATION_LEVEL_GRID_LEADER,
    ),
    Level.GRID: (gpb.ESCALATION_LEVEL_GRID_WORKER, gpb.ESCALATION_LEVEL_GRID_LEADER),
}
_LEVEL_OF_ROLE = {
    gpb.ESCALATION_LEVEL_MICRO_GRID_LEADER: Level.MICRO_GRID,
    gpb.ESCALATION_LEVEL_GRID_WORKER: Level.GRID,
    gpb.ESCALATION_LEVEL_GRID_LEADER: Level.GRID,
}


@dataclass(frozen=True)
class Assignment:
    assignee: str
    level: Level
    member_id: str = ""
    name: str = ""
    grid_id: str = ""
    micro_grid_id: str = ""


def member_assignee(member: gpb.Member) -> str:
    """The member's login when linked (then they act as the assignee), else a member reference
    (staff act for a member without a login)."""
    return member.account_subject or f"member:{member.id}"


def queue(level: Level, covers: gpb.WhoCoversResponse | None = None) -> Assignment:
    at_street = level is Level.STREET
    return Assignment(
        assignee=STREET_QUEUE if at_street else COMMUNITY_QUEUE,
        level=Level.STREET if at_street else Level.COMMUNITY,
        name="街道受理队列" if at_street else "社区受理队列",
        grid_id=covers.grid.id if covers is not None and covers.HasField("grid") else "",
        micro_grid_id=(
            covers.micro_grid.id if covers is not None and covers.HasField("micro_grid") else ""
        ),
    )


def assignment_at(covers: gpb.WhoCoversResponse | None, level: Level) -> Assignment:
    """Who answers for the covered place at ``level`` (or the first rung above it that has
    someone); the community or street queue when no member does."""
    if covers is None or level not in _RUNGS:
        return queue(level, covers)
    for role in _RUNGS[level]:
        members = [r.member for r in covers.escalation if r.level == role and r.member.id]
        if members:
            chosen = next((m for m in members if m.account_subject), members[0])
            return Assignment(
                assignee=member_assignee(chosen),
                level=_LEVEL_OF_ROLE[role],
                member_id=chosen.id,
                name=chosen.name,
                grid_id=covers.grid.id,
                micro_grid_id=covers.micro_grid.id if covers.HasField("micro_grid") else "",
            )
    return queue(Level.COMMUNITY, covers)


class GridClient:
    """GridService as the router calls it: this service's account, the case's tenant."""

    def __init__(self, target: str, credentials: ServiceCredentials, timeout_s: float) -> None:
        self._channel = make_channel(target, default_timeout_s=timeout_s)
        self._stub = grid_pb2_grpc.GridServiceStub(self._channel)
        self._credentials = credentials
        self._timeout_s = timeout_s

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any, tenant: TenantId) -> Any:
        return getattr(self._stub, method)(
            request, metadata=self._credentials.metadata(tenant.value), timeout=self._timeout_s
        )

    def who_covers(
        self,
        tenant: TenantId,
        *,
        building_id: str = "",
        dwelling_id: str = "",
        complex_id: str = "",
    ) -> gpb.WhoCoversResponse | None:
        """Who covers the place (a building, else a dwelling, else a complex). None when grid
        does not know it (yet): the case still lands in the community queue, losing nothing."""
        request = gpb.WhoCoversRequest(
            building_id=building_id, dwelling_id=dwelling_id, complex_id=complex_id
        )
        try:
            response: gpb.WhoCoversResponse = self._call("WhoCovers", request, tenant)
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise _grid_unavailable("WhoCovers", error) from error
        return response if response.HasField("micro_grid") else None

    def member(self, tenant: TenantId, member_id: str) -> gpb.Member:
        """A member of the tenant's grids by id (staff dispatching by hand)."""
        token = ""
        while True:
            try:
                response: gpb.ListMembersResponse = self._call(
                    "ListMembers",
                    gpb.ListMembersRequest(
                        page=paging_pb2.PageRequest(page_size=MEMBER_PAGE, page_token=token)
                    ),
                    tenant,
                )
            except grpc.RpcError as error:
                raise _grid_unavailable("ListMembers", error) from error
            for member in response.members:
                if member.id == member_id:
                    return member
            token = response.page.next_page_token
            if not token:
                raise invalid_input(
                    "cases.assignee_member_id_invalid",
                    "本社区网格中没有该成员",
                    f"no grid member {member_id} in {tenant}",
                    FieldViolation("assignee_member_id", "not a member of this community's grids"),
                )


def _grid_unavailable(method: str, error: grpc.RpcError) -> DomainError:
    return DomainError(
        "cases.grid_unavailable",
        "暂时无法查询网格负责人，请稍后重试",
        f"grid {method} failed: {error.code()}",
        ErrorKind.UNAVAILABLE,
    )
