"""Importing a spreadsheet of residents through the census service's streaming RPC."""

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select

from census.app import CensusCore
from census.identity.codes import id_check_character
from census.imports.service import BATCH_ROWS
from census.imports.template import COLUMNS
from census.people.models import Household, Resident
from census.places.models import Complex
from shequ.census.v1 import census_pb2 as pb
from shequ_kit.tenancy import tenant_scope

HUSHAN = "xiaoshan.shushan.hushan"
HEADER = [column.header_zh for column in COLUMNS]  # the template, in its order
Call = Callable[..., Any]


def id_number(index: int, area: str = "330109") -> str:
    """Distinct for 21,000 indices within an area code."""
    first17 = f"{area}{1950 + index % 60}{1 + index % 12:02d}{1 + index % 28:02d}{index % 1000:03d}"
    return first17 + id_check_character(first17)


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧建国平"


def name_of(index: int) -> str:
    """A distinct name per index below 11,520, without digits (names never have them)."""
    given = len(GIVEN)
    return SURNAMES[index % 20] + GIVEN[index // 20 % given] + GIVEN[index // (20 * given) % given]


def resident_row(index: int, complex_name: str, area: str = "330109") -> list[str]:
    head = index % 2 == 0
    return [
        name_of(index),
        id_number(index, area),
        f"139{index:08d}",
        "户主" if head else "配偶",
        "户籍" if index % 3 else "流动",
        "自有" if index % 3 else "租住",
        complex_name,
        f"{1 + index // 200}幢",
        "1单元",
        f"{100 + (index // 2) % 100}",
        "2020-05-01",
        "党员" if index % 10 == 0 else "",
        "",
        "2026-11-01",
    ]


def spoil(row: list[str], kind: int) -> list[str]:
    """One mistake per bad row, of the kinds staff make."""
    spoiled = list(row)
    match kind % 5:
        case 0:
            spoiled[1] = spoiled[1][:-1] + ("0" if spoiled[1][-1] != "0" else "1")  # checksum
        case 1:
            spoiled[2] = "1391234"  # short phone
        case 2:
            spoiled[4] = "外籍"  # unknown residence type
        case 3:
            spoiled[0] = ""  # missing name
        case _:
            spoiled[13] = "2030-01-01"  # verified in the future
    return spoiled


def csv_file(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def chunks(data: bytes, *, name: str, strict: bool = False) -> Iterator[pb.ImportResidentsRequest]:
    yield pb.ImportResidentsRequest(
        header=pb.ImportHeader(file_name=name, format=pb.IMPORT_FORMAT_CSV, strict=strict)
    )
    for start in range(0, len(data), 16_384):
        yield pb.ImportResidentsRequest(chunk=data[start : start + 16_384])


def residents_in(core: CensusCore, complex_name: str) -> int:
    with tenant_scope(HUSHAN), core.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Resident)
                .join(Complex, Complex.id == Resident.complex_id)
                .where(Complex.name == complex_name)
            )
            or 0
        )


@pytest.fixture(scope="module")
def thousand_rows() -> tuple[bytes, set[int]]:
    bad_rows = {2 + index for index in range(5, 1000, 27)}  # 37 rows, as Excel numbers them
    assert len(bad_rows) == 37
    rows = []
    for index in range(1000):
        row = resident_row(index, "导入花园")
        rows.append(spoil(row, index) if 2 + index in bad_rows else row)
    return csv_file(rows), bad_rows


def test_a_thousand_row_import_reports_exactly_the_37_bad_rows_and_commits_the_rest(
    call: Call, core: CensusCore, thousand_rows: tuple[bytes, set[int]]
) -> None:
    data, bad_rows = thousand_rows
    report = call("ImportResidents", chunks(data, name="湖山居民.csv"))

    assert report.rows_total == 1000
    assert report.rows_imported == 963
    assert {error.row for error in report.rejected} == bad_rows
    assert all(error.column in HEADER and error.message_zh for error in report.rejected)
    assert residents_in(core, "导入花园") == 963
    spouse = next(
        r
        for r in call("ListResidents", pb.ListResidentsRequest(name_contains=name_of(1))).residents
        if r.name == name_of(1)
    )
    assert spouse.relation_to_head == pb.RELATION_TO_HEAD_SPOUSE
    assert spouse.pii_masked


def test_the_same_file_again_changes_nothing(
    call: Call, core: CensusCore, thousand_rows: tuple[bytes, set[int]]
) -> None:
    data, _ = thousand_rows
    again = call("ImportResidents", chunks(data, name="湖山居民(1).csv"))
    assert again.already_imported
    assert again.rows_imported == 963
    assert residents_in(core, "导入花园") == 963


def test_strict_mode_writes_nothing_when_any_row_is_bad(call: Call, core: CensusCore) -> None:
    rows = [resident_row(2000 + i, "严格小区") for i in range(10)]
    rows[4] = spoil(rows[4], 1)
    report = call("ImportResidents", chunks(csv_file(rows), name="strict.csv", strict=True))
    assert report.rows_imported == 0
    assert [error.row for error in report.rejected] == [6]
    assert residents_in(core, "严格小区") == 0


def test_ids_already_registered_are_reported_not_duplicated(call: Call, core: CensusCore) -> None:
    rows = [resident_row(3000 + i, "再导小区") for i in range(4)]
    call("ImportResidents", chunks(csv_file(rows[:2]), name="first.csv"))
    report = call("ImportResidents", chunks(csv_file(rows), name="second.csv"))
    assert report.rows_imported == 2
    assert {(e.row, e.column) for e in report.rejected} == {(2, "身份证号"), (3, "身份证号")}
    assert residents_in(core, "再导小区") == 4


def test_a_file_without_a_required_column_is_refused_whole(call: Call) -> None:
    broken = "姓名,手机号\n张三,13900000000\n".encode()
    with pytest.raises(grpc.RpcError) as failure:
        call("ImportResidents", chunks(broken, name="broken.csv"))
    assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "身份证号" in failure.value.details()


def filler_rows(count: int, complex_name: str, area: str) -> list[list[str]]:
    """Rows whose ID numbers come from their own area code, so no other test's collide."""
    return [resident_row(i, complex_name, area) for i in range(count)]


def test_strict_mode_takes_back_batches_already_written_when_a_late_row_is_bad(
    call: Call, core: CensusCore
) -> None:
    # More rows than one write batch: the first batches reach the tables before the bad row.
    rows = filler_rows(BATCH_ROWS + 500, "严格大小区", area="330110")
    rows[-1] = spoil(rows[-1], 2)
    report = call("ImportResidents", chunks(csv_file(rows), name="strict-big.csv", strict=True))

    assert report.rows_imported == 0
    assert [error.row for error in report.rejected] == [len(rows) + 1]
    assert residents_in(core, "严格大小区") == 0
    with tenant_scope(HUSHAN), core.sessions() as session:
        assert session.scalar(select(Complex).where(Complex.name == "严格大小区")) is None


def test_a_head_in_a_later_batch_than_the_household_still_heads_it(
    call: Call, core: CensusCore
) -> None:
    spouse = resident_row(16_001, "迟到小区")
    head = resident_row(16_000, "迟到小区")
    spouse[9] = head[9] = "901"  # one dwelling
    rows = [spouse, *filler_rows(BATCH_ROWS, "填充小区", area="330111"), head]
    report = call("ImportResidents", chunks(csv_file(rows), name="late-head.csv"))

    assert report.rows_imported == len(rows)
    with tenant_scope(HUSHAN), core.sessions() as session:
        members = session.execute(
            select(Resident.id, Resident.household_id, Resident.relation_to_head)
            .join(Complex, Complex.id == Resident.complex_id)
            .where(Complex.name == "迟到小区")
        ).all()
        assert len(members) == 2
        assert members[0].household_id == members[1].household_id
        head_id = next(m.id for m in members if m.relation_to_head == "self")
        household = session.get(Household, members[0].household_id)
        assert household is not None
        assert household.head_resident_id == head_id
