"""The census's entries in the audit log, through its real gRPC server with Keycloak tokens:
every reveal, unmasked export and committed import writes one entry in its transaction, a
refused or empty action writes none, and OpsService.ListAuditEntries shows a street its
communities' entries only."""

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from census.app import CensusCore
from census.identity.codes import id_check_character
from census.imports.template import COLUMNS
from shequ.census.v1 import census_pb2 as pb
from shequ.census.v1 import census_pb2_grpc
from shequ.common.v1 import paging_pb2
from shequ.ops.v1 import ops_pb2, ops_pb2_grpc
from shequ_infra import LocalInfrastructure
from shequ_kit.audit import AuditEntry, AuditQuery, list_entries
from shequ_kit.paging import Page
from shequ_kit.tenancy import TenantId

HUSHAN = "xiaoshan.shushan.hushan"
SHUSHAN = "xiaoshan.shushan"
REASON = "核对独居老人紧急联系人"
HEADER = [column.header_zh for column in COLUMNS]
Call = Callable[..., Any]


def id_number(birth: str, sequence: str) -> str:
    first17 = f"330110{birth}{sequence}"  # an area of this module's own
    return first17 + id_check_character(first17)


@pytest.fixture(scope="module")
def as_user(infra: LocalInfrastructure) -> Callable[..., dict[str, Any]]:
    """The keyword arguments of a call as ``user`` with a request id of the test's choosing, so
    the entry it writes can be found by it."""
    tokens: dict[str, str] = {}

    def options(user: str, request_id: str, tenant: str = HUSHAN) -> dict[str, Any]:
        if user not in tokens:
            tokens[user] = infra.keycloak.password_grant(user, "shequ-demo")["access_token"]
        metadata = [("authorization", f"Bearer {tokens[user]}"), ("x-request-id", request_id)]
        if tenant:
            metadata.append(("x-tenant-id", tenant))
        return {"metadata": tuple(metadata), "timeout": 30}

    return options


@pytest.fixture(scope="module")
def census(core: CensusCore) -> Iterator[census_pb2_grpc.CensusServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{core.settings.grpc_port}") as channel:
        yield census_pb2_grpc.CensusServiceStub(channel)


@pytest.fixture(scope="module")
def ops(core: CensusCore) -> Iterator[ops_pb2_grpc.OpsServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{core.settings.grpc_port}") as channel:
        yield ops_pb2_grpc.OpsServiceStub(channel)


@pytest.fixture(scope="module")
def residents(call: Call) -> dict[str, str]:
    """Two residents of one Hushan household: name → id."""
    complex_ = call(
        "CreateComplex", pb.CreateComplexRequest(name="审计苑", address="市心北路")
    ).complex
    building = call(
        "CreateBuilding", pb.CreateBuildingRequest(complex_id=complex_.id, number="1幢")
    ).building
    unit = call("CreateUnit", pb.CreateUnitRequest(building_id=building.id, number="1单元")).unit
    dwelling = call(
        "CreateDwelling", pb.CreateDwellingRequest(unit_id=unit.id, room="101")
    ).dwelling
    household = call(
        "CreateHousehold",
        pb.CreateHouseholdRequest(dwelling_id=dwelling.id, tenure=pb.TENURE_OWNER),
    ).household
    ids = {}
    for name, birth, relation in (
        ("沈审计", "19480101", pb.RELATION_TO_HEAD_SELF),
        ("韩审计", "19500505", pb.RELATION_TO_HEAD_SPOUSE),
    ):
        ids[name] = call(
            "CreateResident",
            pb.CreateResidentRequest(
                resident=pb.ResidentInput(
                    household_id=household.id,
                    name=name,
                    id_number=id_number(birth, "501"),
                    phone="13900001111",
                    relation_to_head=relation,
                    residence_type=pb.RESIDENCE_TYPE_REGISTERED,
                    tenure=pb.TENURE_OWNER,
                )
            ),
        ).resident.id
    return ids


def entries_of(core: CensusCore, request_id: str) -> list[AuditEntry]:
    """The log's entries the request with this id wrote."""
    found = list_entries(core.engine, AuditQuery(page=Page(500, None), tenant=TenantId(HUSHAN)))
    return [entry for entry in found.entries if entry.request_id == request_id]


def new_request_id() -> str:
    return uuid.uuid4().hex


def test_a_reveal_writes_one_entry_naming_the_resident_and_the_reason(
    census: census_pb2_grpc.CensusServiceStub,
    core: CensusCore,
    as_user: Callable[..., dict[str, Any]],
    residents: dict[str, str],
) -> None:
    rid = new_request_id()
    census.RevealResident(
        pb.RevealResidentRequest(resident_id=residents["沈审计"], reason=REASON),
        **as_user("hushan-pii", rid),
    )
    [entry] = entries_of(core, rid)
    assert (entry.action, entry.target_kind, entry.target_id) == (
        "pii.revealed",
        "resident",
        residents["沈审计"],
    )
    assert (entry.actor_name, entry.tenant) == ("hushan-pii", TenantId(HUSHAN))
    assert entry.detail == {"reason": REASON}
    assert REASON in entry.summary
    assert REASON in entry.summary_en
    # Ids and the reason only: the resident's name, ID number and phone stay out of the log.
    stored = json.dumps([entry.summary, entry.summary_en, dict(entry.detail)], ensure_ascii=False)
    assert "沈审计" not in stored
    assert "13900001111" not in stored


def test_a_refused_reveal_writes_no_entry(
    census: census_pb2_grpc.CensusServiceStub,
    core: CensusCore,
    as_user: Callable[..., dict[str, Any]],
    residents: dict[str, str],
) -> None:
    no_reason, not_cleared = new_request_id(), new_request_id()
    with pytest.raises(grpc.RpcError) as blank:
        census.RevealResident(
            pb.RevealResidentRequest(resident_id=residents["韩审计"], reason=" "),
            **as_user("hushan-pii", no_reason),
        )
    assert blank.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as staff:
        census.RevealResident(
            pb.RevealResidentRequest(resident_id=residents["韩审计"], reason=REASON),
            **as_user("hushan-staff", not_cleared),
        )
    assert staff.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert entries_of(core, no_reason) == []
    assert entries_of(core, not_cleared) == []


def export(
    census: census_pb2_grpc.CensusServiceStub, options: dict[str, Any], **fields: Any
) -> bytes:
    request = pb.ExportResidentsRequest(format=pb.IMPORT_FORMAT_CSV, **fields)
    return b"".join(part.chunk for part in census.ExportResidents(request, **options))


def test_an_unmasked_export_is_one_entry_counting_its_records_and_a_masked_one_none(
    census: census_pb2_grpc.CensusServiceStub,
    core: CensusCore,
    as_user: Callable[..., dict[str, Any]],
    residents: dict[str, str],
) -> None:
    unmasked, masked = new_request_id(), new_request_id()
    data = export(census, as_user("hushan-pii", unmasked), reveal_reason=REASON)
    exported = len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))) - 1  # the header
    assert exported >= len(residents)
    [entry] = entries_of(core, unmasked)
    assert (entry.action, entry.actor_name) == ("pii.exported", "hushan-pii")
    assert entry.detail == {"records": exported, "format": "csv", "reason": REASON}
    assert str(exported) in entry.summary

    export(census, as_user("hushan-staff", masked))
    assert entries_of(core, masked) == []


def import_file(rows: list[list[str]]) -> Iterator[pb.ImportResidentsRequest]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    yield pb.ImportResidentsRequest(
        header=pb.ImportHeader(file_name="审计导入.csv", format=pb.IMPORT_FORMAT_CSV)
    )
    yield pb.ImportResidentsRequest(chunk=buffer.getvalue().encode("utf-8-sig"))


def import_row(name: str, sequence: str, room: str, *, phone: str = "13900002222") -> list[str]:
    return [
        name,
        id_number("19800101", sequence),
        phone,
        "户主",
        "户籍",
        "自有",
        "审计导入苑",
        "2幢",
        "1单元",
        room,
        "2020-05-01",
        "",
        "",
        "2026-11-01",
    ]


def test_an_import_writes_one_entry_with_its_counts_and_a_repeated_upload_none(
    census: census_pb2_grpc.CensusServiceStub,
    core: CensusCore,
    as_user: Callable[..., dict[str, Any]],
) -> None:
    rows = [
        import_row("钱导入", "601", "201"),
        import_row("孙导入", "602", "202"),
        import_row("李导入", "603", "203", phone="1390000"),  # a short phone: not imported
    ]
    first, again = new_request_id(), new_request_id()
    report = census.ImportResidents(import_file(rows), **as_user("hushan-staff", first))
    assert (report.rows_total, report.rows_imported) == (3, 2)
    [entry] = entries_of(core, first)
    assert (entry.action, entry.target_kind, entry.target_id) == (
        "import.committed",
        "import",
        report.import_id,
    )
    assert entry.detail == {
        "rows_total": 3,
        "rows_imported": 2,
        "rows_rejected": 1,
        "format": "csv",
        "strict": False,
    }
    repeated = census.ImportResidents(import_file(rows), **as_user("hushan-staff", again))
    assert repeated.already_imported
    assert entries_of(core, again) == []


def list_audit(
    ops: ops_pb2_grpc.OpsServiceStub, options: dict[str, Any], **fields: Any
) -> ops_pb2.ListAuditEntriesResponse:
    reply: ops_pb2.ListAuditEntriesResponse = ops.ListAuditEntries(
        ops_pb2.ListAuditEntriesRequest(**fields), **options
    )
    return reply


def test_a_street_admin_lists_their_communities_entries_and_staff_are_refused(
    census: census_pb2_grpc.CensusServiceStub,
    ops: ops_pb2_grpc.OpsServiceStub,
    as_user: Callable[..., dict[str, Any]],
    residents: dict[str, str],
) -> None:
    rid = new_request_id()
    census.RevealResident(
        pb.RevealResidentRequest(resident_id=residents["韩审计"], reason=REASON),
        **as_user("hushan-pii", rid),
    )
    street = as_user("shushan-admin", new_request_id(), tenant="")
    reply = list_audit(
        ops, street, tenant_id=SHUSHAN, action_prefix="pii.", page=paging_pb2.PageRequest()
    )
    assert reply.service == "census"
    mine = [e for e in reply.entries if e.request_id == rid]
    assert [(e.action, e.tenant_id, e.target_id) for e in mine] == [
        ("pii.revealed", HUSHAN, residents["韩审计"])
    ]
    assert json.loads(mine[0].detail_json) == {"reason": REASON}
    assert {e.tenant_id for e in reply.entries} <= {HUSHAN, "xiaoshan.shushan.xiangyuan"}
    # Newest first.
    stamps = [(e.occurred_at.ToDatetime(), e.id) for e in reply.entries]
    assert stamps == sorted(stamps, reverse=True)

    for user, tenant in (
        ("hushan-staff", HUSHAN),  # community staff do not read the log
        ("beigan-admin", HUSHAN),  # another street's administrator
        ("shushan-admin", ""),  # the whole platform is for platform administrators
    ):
        with pytest.raises(grpc.RpcError) as refused:
            list_audit(ops, as_user(user, new_request_id(), tenant=""), tenant_id=tenant)
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED, user
