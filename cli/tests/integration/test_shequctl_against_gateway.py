"""shequctl as an operator uses it, against the real gateway over HTTP, Keycloak and census:
log in, onboard a community, import a census file (with one bad row), create a member, and
read the outboxes."""

import csv
import io
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from census.generate import community_csv
from census.synthetic import generate_community
from shequ_infra import LocalInfrastructure
from shequctl.__main__ import main
from shequctl.session import EXIT_REFUSED, token_file

CENSUS_DATABASE = "shequctl_census"
HUSHAN = "xiaoshan.shushan.hushan"
DEMO_PASSWORD = "shequ-demo"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("SHEQUCTL_TOKEN", raising=False)


@pytest.fixture
def run(gateway_url: str) -> Run:
    def invoke(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(
            ["--gateway", gateway_url, *argv], stdin=io.StringIO(stdin), stdout=out, stderr=err
        )
        return code, out.getvalue(), err.getvalue()

    return invoke


def login(run: Run, infra: LocalInfrastructure, username: str) -> None:
    code, out, err = run(
        "login", "--issuer", infra.keycloak.issuer, "--username", username, "--password-stdin",
        stdin=f"{DEMO_PASSWORD}\n",
    )  # fmt: skip
    assert code == 0, err
    assert username in out


def test_platform_admin_logs_in_and_onboards_a_community_once(
    run: Run, infra: LocalInfrastructure
) -> None:
    login(run, infra, "platform")
    assert stat.S_IMODE(token_file().stat().st_mode) == 0o600
    tenant = f"xiaoshan.shushan.cli{uuid.uuid4().hex[:8]}"
    onboard = ("tenants", "onboard", tenant, "--name-zh", "命令行社区", "--name-en", "Cli")
    code, out, err = run(*onboard, "--division-code", "330109001099")
    assert code == 0, err
    assert tenant in out
    assert "已启用 onboarded" in out
    code, out, _ = run(*onboard)
    assert code == 0
    assert "此前已启用" in out

    # The new community has its Keycloak groups: a member can be created in it.
    username = f"{tenant.rsplit('.', maxsplit=1)[-1]}-staff"
    code, out, err = run(
        "--json", "members", "create", tenant, "--username", username,
        "--role", "community-staff", "--pii-reader",
    )  # fmt: skip
    assert code == 0, err
    member = json.loads(out)
    assert set(member["roles"]) == {"community-staff", "pii-reader"}
    assert len(member["initial_password"]) >= 10


def test_a_wrong_password_is_refused_by_keycloak(run: Run, infra: LocalInfrastructure) -> None:
    code, _, err = run(
        "login", "--issuer", infra.keycloak.issuer, "--username", "platform", "--password-stdin",
        stdin="not-the-password\n",
    )  # fmt: skip
    assert code == EXIT_REFUSED
    assert "登录失败" in err
    assert not token_file().exists()


def census_file(tmp_path: Path, *, seed: int, broken_row: int | None) -> Path:
    """A synthetic Hushan household file; with ``broken_row``, that data row's ID number has a
    wrong check character."""
    community = generate_community(
        tenant_id=HUSHAN,
        seed=seed,
        households=12,
        complexes=[f"命令行苑{seed}"],
        today=date(2026, 11, 23),
    )
    text = community_csv(community, verified_on=date(2026, 11, 23)).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    if broken_row is not None:
        column = rows[0].index("身份证号")
        original = rows[broken_row][column]
        rows[broken_row][column] = original[:-1] + ("0" if original[-1] != "0" else "1")
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path = tmp_path / "湖山居民.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    return path


def test_staff_import_reports_the_bad_row_and_exits_1(
    run: Run, infra: LocalInfrastructure, tmp_path: Path
) -> None:
    login(run, infra, "hushan-staff")
    path = census_file(tmp_path, seed=11, broken_row=3)
    code, out, err = run("census", "import", HUSHAN, str(path))
    assert code == EXIT_REFUSED, err
    assert "身份证号" in out
    assert "有误 refused: 1" in out
    code, out, _ = run("--json", "census", "import", HUSHAN, str(path), "--strict")
    report = json.loads(out)
    assert code == EXIT_REFUSED
    assert [r["row"] for r in report["rejected"]] == [4]  # Excel's numbering: header is row 1


def test_a_clean_file_imports_and_exits_0(
    run: Run, infra: LocalInfrastructure, tmp_path: Path
) -> None:
    login(run, infra, "hushan-staff")
    # Other people than the file with the bad row: those were imported leniently above.
    path = census_file(tmp_path, seed=12, broken_row=None)
    code, out, err = run("--json", "census", "import", HUSHAN, str(path), "--strict")
    assert code == 0, err + out
    report = json.loads(out)
    assert report["rejected"] == []
    assert report["rows_imported"] == report["rows_total"] > 12


def test_outbox_status_through_the_console_script(
    gateway_url: str, token_of: Callable[..., str]
) -> None:
    """The installed ``shequctl`` command, as an operator's shell runs it."""
    script = Path(sys.executable).parent / "shequctl"
    environment = {**os.environ, "SHEQUCTL_GATEWAY": gateway_url}
    environment["SHEQUCTL_TOKEN"] = token_of("platform")
    done = subprocess.run(
        [str(script), "--json", "outbox", "status"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    services = {entry["service"]: entry for entry in json.loads(done.stdout)["services"]}
    assert set(services) == {"gateway", "census", "grid", "cases", "notify"}
    assert services["census"]["error"] is None
    assert services["gateway"]["error"] is None
    assert services["grid"]["error"]["code"] == "UNAVAILABLE"
    # The census outbox holds this module's imports' facts (no relay runs here): pending.
    assert services["census"]["pending"] >= 1

    table = subprocess.run(
        [str(script), "outbox", "status"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    assert "census" in table.stdout
    assert "无应答 no answer: UNAVAILABLE" in table.stdout


def test_street_admin_is_refused_the_platform_wide_outbox(
    run: Run, infra: LocalInfrastructure
) -> None:
    login(run, infra, "shushan-admin")
    code, out, err = run("outbox", "status")
    assert code == EXIT_REFUSED
    assert out == ""
    assert "只有平台管理员" in err
    code, out, err = run("outbox", "status", "--tenant", HUSHAN)
    assert code == 0, err
    assert "census" in out
