"""Settings come from AITP_* variables with __ nesting, and bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings


def test_nested_variables_set_each_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AITP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AITP_POSTGRES__URL", "postgresql://u@db/aitp")
    monkeypatch.setenv("AITP_TEMPORAL__PORT", "17233")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.postgres.url == "postgresql://u@db/aitp"
    assert settings.redis.url is None
    assert settings.temporal.port == 17233
    assert settings.temporal.ui_port == 8233


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AITP_TEMPORAL__PORT", "seventy")
    with pytest.raises(ValidationError) as err:
        Settings()
    assert err.value.errors()[0]["loc"] == ("temporal", "port")


def test_the_cli_data_dir_overrides_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AITP_DATA_DIR", "/elsewhere")
    assert Settings().with_data_dir(tmp_path / "x").data_dir == (tmp_path / "x").resolve()
    assert Settings().with_data_dir(None).data_dir == Path("/elsewhere")
