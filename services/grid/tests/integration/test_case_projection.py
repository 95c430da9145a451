"""Open cases in the grid's workload, from the cases service's events through the real Kafka
broker: a report raises a micro-grid's open cases, closing lowers them, a redelivered or older
fact changes nothing, and a fact whose ce_tenant header names another community is refused."""

import uuid

from kafka import KafkaConsumer
from sqlalchemy import text

from grid.app import GridCore
from shequ.cases.v1 import cases_pb2 as cpb
from shequ.cases.v1 import events_pb2 as epb
from shequ_infra import LocalInfrastructure
from shequ_infra.grpc_calls import Call

from .conftest import HUSHAN, XIANGYUAN, Publish
from .test_grid_service import eventually, layout, micro_workload, new_buildings, ref, wait_known

CASES_TOPIC = "shequ.cases.v1"


def facts(
    case_id: str, building_id: str, *, version: int, state: cpb.CaseState.ValueType
) -> epb.CaseFacts:
    still_open = state not in (
        cpb.CASE_STATE_CLOSED,
        cpb.CASE_STATE_RATED,
        cpb.CASE_STATE_REJECTED,
        cpb.CASE_STATE_VOIDED,
        cpb.CASE_STATE_MERGED,
    )
    return epb.CaseFacts(
        case_id=case_id,
        number=f"SQ-{case_id[:8]}",
        category_code="0101",
        state=state,
        level=cpb.LEVEL_MICRO_GRID,
        building_id=building_id,
        open=still_open,
        version=version,
    )


def reported(
    publish: Publish, case_id: str, building_id: str, *, event_id: uuid.UUID | None = None
) -> uuid.UUID:
    return publish(
        epb.CaseReported(
            tenant=ref(HUSHAN),
            case=facts(case_id, building_id, version=1, state=cpb.CASE_STATE_REPORTED),
        ),
        aggregate_id=case_id,
        event_id=event_id,
        topic=CASES_TOPIC,
    )


def action(
    publish: Publish,
    case_id: str,
    building_id: str,
    *,
    name: str,
    version: int,
    state: cpb.CaseState.ValueType,
) -> uuid.UUID:
    return publish(
        epb.CaseActionTaken(
            tenant=ref(HUSHAN),
            case=facts(case_id, building_id, version=version, state=state),
            action=name,
            to_state=state,
        ),
        aggregate_id=case_id,
        topic=CASES_TOPIC,
    )


def projected(core: GridCore, case_id: str) -> tuple[str, bool, int] | None:
    """(tenant, open, version) of the case's row, looked at past row-level security."""
    with core.engine.connect() as connection:
        connection.execute(text("SELECT set_config('shequ.system', 'on', false)"))
        row = connection.execute(
            text("SELECT tenant_id, open, version FROM case_projection WHERE case_id = :c"),
            {"c": case_id},
        ).one_or_none()
    return None if row is None else (str(row[0]), bool(row[1]), int(row[2]))


def handled(core: GridCore, event_ids: list[uuid.UUID]) -> bool:
    """Whether the grid's consumer has handled all these events (applied or not)."""
    with core.engine.connect() as connection:
        connection.execute(text("SELECT set_config('shequ.system', 'on', false)"))
        done = connection.execute(
            text(
                "SELECT count(*) FROM processed_events "
                "WHERE consumer_group = :g AND event_id = ANY(:ids)"
            ),
            {"g": core.settings.consumer_group, "ids": event_ids},
        ).scalar()
    return done == len(event_ids)


def open_cases(call: Call, micro_grid_id: str) -> int:
    return micro_workload(call, micro_grid_id).open_cases


def test_a_report_raises_the_micro_grids_open_cases_and_closing_lowers_them(
    call: Call, publish: Publish, core: GridCore
) -> None:
    buildings = new_buildings(publish, HUSHAN, 2)
    wait_known(call, buildings)
    _, first, second = layout(call, buildings)
    assert open_cases(call, first.id) == 0

    pothole, noise = str(uuid.uuid4()), str(uuid.uuid4())
    reported(publish, pothole, buildings[0])
    reported(publish, noise, buildings[1])
    eventually(lambda: open_cases(call, first.id) == 2, 10)
    assert open_cases(call, second.id) == 0  # covers neither building
    dispatched = cpb.CASE_STATE_DISPATCHED
    action(publish, pothole, buildings[0], name="dispatch", version=2, state=dispatched)
    eventually(lambda: projected(core, pothole) == (HUSHAN, True, 2), 10)
    assert open_cases(call, first.id) == 2  # still open while it is being handled

    action(publish, pothole, buildings[0], name="close", version=5, state=cpb.CASE_STATE_CLOSED)
    eventually(lambda: open_cases(call, first.id) == 1, 10)
    # Reopened after an unsatisfied rating: open again, in the same building.
    action(
        publish, pothole, buildings[0], name="reopen", version=7, state=cpb.CASE_STATE_DISPATCHED
    )
    eventually(lambda: open_cases(call, first.id) == 2, 10)


def test_a_redelivered_or_older_case_event_changes_nothing(
    call: Call, publish: Publish, core: GridCore
) -> None:
    buildings = new_buildings(publish, HUSHAN, 2)
    wait_known(call, buildings)
    _, first, _ = layout(call, buildings)
    case_id = str(uuid.uuid4())
    report = reported(publish, case_id, buildings[0])
    eventually(lambda: open_cases(call, first.id) == 1, 10)
    action(publish, case_id, buildings[0], name="close", version=4, state=cpb.CASE_STATE_CLOSED)
    eventually(lambda: open_cases(call, first.id) == 0, 10)

    # The report again (same event id, then re-sent with a new id) and an older action that
    # arrives late: each would reopen the case if applied.
    reported(publish, case_id, buildings[0], event_id=report)
    late_events = [
        reported(publish, case_id, buildings[0]),
        action(
            publish,
            case_id,
            buildings[0],
            name="dispatch",
            version=2,
            state=cpb.CASE_STATE_DISPATCHED,
        ),
    ]
    eventually(lambda: handled(core, late_events), 10)
    assert projected(core, case_id) == (HUSHAN, False, 4)
    assert open_cases(call, first.id) == 0

    # A case whose close overtook its report never counts as open.
    overtaken = str(uuid.uuid4())
    action(publish, overtaken, buildings[1], name="close", version=3, state=cpb.CASE_STATE_CLOSED)
    late_report = reported(publish, overtaken, buildings[1])
    eventually(lambda: handled(core, [late_report]), 10)
    assert projected(core, overtaken) == (HUSHAN, False, 3)
    assert open_cases(call, first.id) == 0


def test_a_case_event_whose_header_names_another_community_is_refused(
    call: Call, publish: Publish, core: GridCore, infra: LocalInfrastructure
) -> None:
    buildings = new_buildings(publish, HUSHAN, 1)
    wait_known(call, buildings)
    _, first, _ = layout(call, buildings)
    smuggled = str(uuid.uuid4())
    # Xiangyuan's payload under Hushan's header, counting against a Hushan building.
    event_id = publish(
        epb.CaseReported(
            tenant=ref(XIANGYUAN),
            case=facts(smuggled, buildings[0], version=1, state=cpb.CASE_STATE_REPORTED),
        ),
        tenant=XIANGYUAN,
        header_tenant=HUSHAN,
        aggregate_id=smuggled,
        topic=CASES_TOPIC,
    )
    dead = KafkaConsumer(
        f"{CASES_TOPIC}.dlq",
        bootstrap_servers=infra.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"dlq-{uuid.uuid4().hex}",
        consumer_timeout_ms=30_000,
    )
    reason = ""
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers or []}
        if headers.get("ce_id") == str(event_id):
            reason = headers.get("x-error", "")
            break
    dead.close()
    assert "TenantMismatchError" in reason
    assert projected(core, smuggled) is None
    assert open_cases(call, first.id) == 0
