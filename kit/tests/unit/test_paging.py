import uuid

import pytest

from shequ.common.v1 import paging_pb2
from shequ_kit.errors import DomainError
from shequ_kit.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    encode_token,
    page_of,
    page_response,
    sort_key,
)


def test_first_page_uses_the_default_size_and_caps_large_requests() -> None:
    assert page_of(paging_pb2.PageRequest()).size == DEFAULT_PAGE_SIZE
    assert page_of(paging_pb2.PageRequest(page_size=10_000)).size == MAX_PAGE_SIZE
    assert page_of(paging_pb2.PageRequest()).after is None


def test_a_token_carries_the_last_sort_key_to_the_next_page() -> None:
    rows = [("湖山", i) for i in range(11)]
    page = page_of(paging_pb2.PageRequest(page_size=10))
    response = page_response(rows, page, lambda row: [row[0], row[1]])
    following = page_of(paging_pb2.PageRequest(page_size=10, page_token=response.next_page_token))
    assert following.after == ["湖山", 9]


def test_the_last_page_has_no_next_token() -> None:
    page = page_of(paging_pb2.PageRequest(page_size=10))
    assert page_response(list(range(10)), page, lambda n: [n]).next_page_token == ""


@pytest.mark.parametrize("token", ["%%%", "bm90LWpzb24", encode_token([1]).replace("W", "{")])
def test_a_token_we_did_not_issue_is_a_clear_error(token: str) -> None:
    with pytest.raises(DomainError) as failure:
        page_of(paging_pb2.PageRequest(page_token=token))
    assert failure.value.code == "paging.page_token"


def test_a_negative_page_size_is_refused() -> None:
    with pytest.raises(DomainError):
        page_of(paging_pb2.PageRequest(page_size=-1))


def test_the_sort_key_comes_back_typed() -> None:
    key = uuid.uuid4()
    page = page_of(paging_pb2.PageRequest(page_token=encode_token(["湖山", str(key)])))
    assert sort_key(page, str, uuid.UUID) == ("湖山", key)
    assert sort_key(page_of(paging_pb2.PageRequest()), str, uuid.UUID) is None


@pytest.mark.parametrize("forged", [["湖山", "not-a-uuid"], ["only-one"], ["a", "b", "c"]])
def test_a_decodable_token_whose_key_does_not_fit_is_refused(forged: list[str]) -> None:
    page = page_of(paging_pb2.PageRequest(page_token=encode_token(forged)))
    with pytest.raises(DomainError) as failure:
        sort_key(page, str, uuid.UUID)
    assert failure.value.code == "paging.page_token"
