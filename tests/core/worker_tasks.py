"""Tasks the worker tests queue (importable by the worker subprocess, which runs from the repo)."""

from __future__ import annotations

from pathlib import Path

from django_tasks import task


@task()
def touch(path: str) -> str:
    Path(path).write_text("ran", encoding="utf-8")
    return path
