import pytest

from shequ_kit.tenancy import (
    InvalidTenantIdError,
    MissingTenantError,
    TenantId,
    current_tenant,
    require_tenant,
    tenant_scope,
)

HUSHAN = TenantId("xiaoshan.shushan.hushan")
SHUSHAN = TenantId("xiaoshan.shushan")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "Xiaoshan",
        "xiaoshan..hushan",
        "xiaoshan.shushan.",
        "1shushan",
        "xiao shan",
        "xiaoshan.shushan.hushan.a.b.c",
        "xiaoshan.shushan.community-staff",
        "x" * 41,
        "xiaoshan/shushan",
        "xiaoshan.shushan.hushan'--",
    ],
)
def test_malformed_tenant_ids_are_refused(raw: str) -> None:
    with pytest.raises(InvalidTenantIdError):
        TenantId(raw)


def test_a_street_contains_its_communities_but_not_its_neighbours() -> None:
    assert SHUSHAN.contains(HUSHAN)
    assert SHUSHAN.contains(SHUSHAN)
    assert SHUSHAN.is_ancestor_of(HUSHAN)
    assert not SHUSHAN.is_ancestor_of(SHUSHAN)
    assert not SHUSHAN.contains(TenantId("xiaoshan.beigan.shibei"))
    # A shared prefix is not ancestry.
    assert not TenantId("xiaoshan.shu").contains(SHUSHAN)


def test_tree_navigation() -> None:
    assert HUSHAN.parent == SHUSHAN
    assert TenantId("xiaoshan").parent is None
    assert HUSHAN.ancestors() == [TenantId("xiaoshan"), SHUSHAN]
    assert SHUSHAN.child("junle") == TenantId("xiaoshan.shushan.junle")
    assert HUSHAN.group_path == "/xiaoshan/shushan/hushan"
    assert HUSHAN.depth == 3


def test_tenant_scope_sets_and_restores_the_current_tenant() -> None:
    assert current_tenant() is None
    with tenant_scope("xiaoshan.shushan") as outer:
        assert require_tenant() == outer
        with tenant_scope(HUSHAN):
            assert require_tenant() == HUSHAN
        assert require_tenant() == SHUSHAN
    assert current_tenant() is None


def test_tenant_scoped_work_without_a_tenant_fails_loudly() -> None:
    with pytest.raises(MissingTenantError):
        require_tenant()
