from gateway.problems import STATUS_OF, TITLES
from shequ_kit.errors import ErrorKind


def test_every_domain_error_kind_has_an_http_status_with_a_title() -> None:
    assert set(STATUS_OF) == set(ErrorKind)
    for status in STATUS_OF.values():
        assert status in TITLES


def test_no_domain_error_is_answered_as_a_server_fault_except_unavailability() -> None:
    assert {kind for kind, status in STATUS_OF.items() if status >= 500} == {ErrorKind.UNAVAILABLE}
