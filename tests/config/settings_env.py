"""The settings module as a fresh process would read it under some environment variables."""

from __future__ import annotations

import runpy
from typing import Any

import fidele.config.settings as settings_module


def settings_from_env(monkeypatch, tmp_path, **variables: str) -> dict[str, Any]:
    monkeypatch.setenv("FIDELE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x" * 60)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(settings_module.__file__)
