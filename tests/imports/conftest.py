from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import translation

FILES = Path(__file__).parent / "files"


@pytest.fixture(autouse=True)
def english():
    # Reasons and warnings are translated; the tests read the English source strings.
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def imports_dir(settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "imports"
    return settings.IMPORTS_DIR


@pytest.fixture
def fixture_file():
    def get(name: str) -> Path:
        return FILES / name

    return get


@pytest.fixture
def write_file(tmp_path):
    """Write bytes (or text, encoded as asked) to a temporary file and return its path."""

    def write(content: bytes | str, name: str = "data.csv", encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return write
