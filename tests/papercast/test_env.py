from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from papercast.env import env_bool, env_choice, env_float, env_int, env_list, env_path, env_rate

ROOT = Path(__file__).resolve().parents[2]


def test_readers_return_defaults_for_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PC_EMPTY", "  ")
    assert env_int("PC_EMPTY", 3) == 3 and env_bool("PC_UNSET_X", True) is True
    assert env_list("PC_EMPTY", ["a"]) == ["a"] and env_choice("PC_EMPTY", "x", ["x", "y"]) == "x"


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (lambda: env_int("PC_V", 1), "ten", "is not an integer"),
        (lambda: env_int("PC_V", 1, minimum=1), "0", "below the minimum"),
        (lambda: env_float("PC_V", 1.0), "nan", "finite"),
        (lambda: env_bool("PC_V", False), "maybe", "is not a boolean"),
        (lambda: env_choice("PC_V", "a", ["a", "b"]), "c", "is not one of: a, b"),
        (lambda: env_rate("PC_V", "1/second"), "600 per minute", "is not a rate"),
        (lambda: env_rate("PC_V", "1/second"), "0/minute", "is not a rate"),
    ],
)
def test_readers_name_the_variable_and_the_problem(
    monkeypatch: pytest.MonkeyPatch, reader: object, value: str, message: str
) -> None:
    monkeypatch.setenv("PC_V", value)
    with pytest.raises(ImproperlyConfigured, match=message) as error:
        reader()  # type: ignore[operator]
    assert "PC_V" in str(error.value)


def test_relative_paths_are_taken_from_the_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PC_P", "var/x")
    assert env_path("PC_P", Path("/unused"), base=Path("/srv/papercast")) == Path("/srv/papercast/var/x")


def test_a_bad_setting_stops_start_up_with_its_name(tmp_path: Path) -> None:
    env = {**os.environ, "PAPERCAST_DATA_DIR": str(tmp_path), "PAPERCAST_STORAGE": "ftp"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "PAPERCAST_STORAGE='ftp' is not one of: filesystem, s3" in result.stderr


def test_a_rate_is_read_as_drf_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PC_RATE", "20/hour")
    assert env_rate("PC_RATE", "1/second") == "20/hour"
