from __future__ import annotations

import pytest

# The browser fixtures (browser, page, log_in, axe_violations) come from tests/browser.py.


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
