"""The synthetic community file: deterministic, and every row imports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from census.app import today_in_shanghai
from census.generate import community_csv, main
from census.imports.reading import ParsedRow, read_rows
from census.synthetic import generate_community

TODAY = date(2026, 11, 23)


def test_every_generated_row_passes_the_import_checks() -> None:
    community = generate_community(
        tenant_id="xiaoshan.shushan.shibei", seed=5, households=300, today=TODAY
    )

    results = list(
        read_rows(community_csv(community, verified_on=TODAY), format="csv", today=TODAY)
    )

    assert len(results) == len(community.residents)
    assert all(isinstance(result, ParsedRow) for result in results)
    heads = [r for r in results if isinstance(r, ParsedRow) and r.relation_to_head.value == "self"]
    assert len(heads) == 300  # one head per household


def test_the_same_seed_writes_the_same_file_and_another_seed_does_not(tmp_path: Path) -> None:
    files = []
    for name, seed in (("a.csv", "3"), ("b.csv", "3"), ("c.csv", "4")):
        arguments = ["--tenant", "xiaoshan.shushan.hushan", "--households", "50", "--seed", seed]
        assert main([*arguments, "--format", "csv", "--output", str(tmp_path / name)]) == 0
        files.append((tmp_path / name).read_bytes())

    assert files[0] == files[1]
    assert files[0] != files[2]


def test_an_xlsx_file_reads_back_like_the_csv(tmp_path: Path) -> None:
    output = tmp_path / "shibei.xlsx"
    arguments = ["--tenant", "xiaoshan.shushan.shibei", "--households", "40", "--seed", "9"]
    main([*arguments, "--format", "xlsx", "--output", str(output)])

    # Dated in Shanghai, as the service judges "today".
    rows = list(read_rows(output.read_bytes(), format="xlsx", today=today_in_shanghai()))

    assert rows
    assert all(isinstance(row, ParsedRow) for row in rows)
