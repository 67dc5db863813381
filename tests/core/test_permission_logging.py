"""A permission refusal is an expected answer: one line in the server log, no traceback."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_refused_page_logs_one_line_without_a_traceback(viewer_client, caplog):
    with caplog.at_level(logging.INFO):
        response = viewer_client.get(reverse("accounts:users"))
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name.startswith("django")]
    assert len(records) <= 1
    for record in records:
        assert record.exc_info is None and not record.exc_text
        assert record.levelno <= logging.WARNING
        assert "\n" not in record.getMessage()


def test_the_log_filter_keeps_the_traceback_of_real_errors():
    from fidele.core.permissions import PermissionDeniedLogFilter

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("django.request", logging.ERROR, "", 0, "x", (), sys.exc_info())
    assert PermissionDeniedLogFilter().filter(record) is True
    assert record.exc_info is not None


def test_the_configured_logging_applies_the_filter_to_django_request():
    from fidele.core.permissions import PermissionDeniedLogFilter

    filters = logging.getLogger("django.request").filters
    assert any(isinstance(f, PermissionDeniedLogFilter) for f in filters)
