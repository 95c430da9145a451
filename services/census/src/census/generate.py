"""Write a synthetic community as an import file, for trials, training and load tests.

python -m census.generate --tenant xiaoshan.shushan.shibei --households 4223 --seed 7 \\
    --format xlsx --output 市北社区.xlsx

The same seed gives the same file (``census.synthetic``: valid ID numbers and phones, plausible
households, ages and migrant share). The file has the import template's shape, unmasked — it is
made up — so it can be uploaded to any community as it is.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

from census.app import today_in_shanghai
from census.imports.writing import ExportRow, csv_pieces, write_xlsx
from census.synthetic import SyntheticCommunity, generate_community


def export_rows(community: SyntheticCommunity, *, verified_on: date) -> Iterator[ExportRow]:
    """The community's residents as rows of the import template, household by household."""
    dwellings = {d.key: d for d in community.dwellings}
    units = {u.key: u for u in community.units}
    buildings = {b.key: b for b in community.buildings}
    complexes = {c.key: c for c in community.complexes}
    homes = {h.key: h for h in community.households}
    for resident in community.residents:
        home = homes[resident.household_key]
        dwelling = dwellings[home.dwelling_key]
        unit = units[dwelling.unit_key]
        building = buildings[unit.building_key]
        yield ExportRow(
            name=resident.name,
            id_number=resident.id_number,
            phone=resident.phone or "",
            relation_to_head=resident.relation_to_head,
            residence_type=resident.residence_type,
            tenure=home.tenure,
            complex_name=complexes[building.complex_key].name,
            building_number=building.number,
            unit_number=unit.number,
            room=dwelling.room,
            moved_in_on=resident.moved_in_on,
            care_tags=frozenset(resident.care_tags),
            tags=(),
            verified_on=verified_on,
        )


def community_csv(community: SyntheticCommunity, *, verified_on: date) -> bytes:
    rows = export_rows(community, verified_on=verified_on)
    return b"".join(csv_pieces(rows, masked=False, with_community=False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m census.generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tenant", required=True, help="the community's tenant id")
    parser.add_argument("--households", type=int, default=4_223, help="default: Shibei's 4,223")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="xlsx")
    parser.add_argument("--output", type=Path, required=True)
    arguments = parser.parse_args(argv)
    if arguments.households < 1:
        parser.error("--households must be at least 1")
    today = today_in_shanghai()
    community = generate_community(
        tenant_id=arguments.tenant,
        seed=arguments.seed,
        households=arguments.households,
        today=today,
    )
    rows = export_rows(community, verified_on=today)
    with arguments.output.open("wb") as output:
        if arguments.format == "csv":
            output.writelines(csv_pieces(rows, masked=False, with_community=False))
        else:
            write_xlsx(rows, output, masked=False, with_community=False)
    print(f"{len(community.residents):,} residents in {arguments.households:,} households")
    return 0


if __name__ == "__main__":
    sys.exit(main())
