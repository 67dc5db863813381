"""Query-string values made safe to filter and search with."""

from __future__ import annotations

import re

# Longer search text is cut: nobody types 200 characters into a search box, and a huge
# LIKE pattern is a cheap way to make the database work hard.
MAX_QUERY_LENGTH = 100

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def clean_param(value: str | None, *, max_length: int = MAX_QUERY_LENGTH) -> str:
    """A query-string value made safe to search with: no control characters (PostgreSQL refuses
    NUL bytes), trimmed, and cut to a sensible length (`max_length` for a value that is not
    search text, a segment rule in JSON)."""
    return _CONTROL_CHARS.sub("", value or "").strip()[:max_length]
