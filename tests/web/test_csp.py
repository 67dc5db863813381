"""No inline script anywhere: the Content-Security-Policy forbids event handlers in markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "fidele"
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def test_no_template_has_an_inline_event_handler():
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.glob("*/templates/**/*.html")
        if HANDLER.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.django_db
def test_the_policy_forbids_inline_handlers_and_foreign_scripts(viewer_client):
    policy = viewer_client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "script-src-attr 'none'" in policy
