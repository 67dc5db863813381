"""What a segment rule may hold and how a bad one is reported: shared by the compiler
(fidele.segments.rules) and the leaves (fidele.segments.leaves)."""

from __future__ import annotations

import json
from typing import Any

# Deeper than any rule a person builds; far from Python's recursion limit.
MAX_DEPTH = 12
# Leaves and groups in one rule, and values in one `in` list: a segment is typed by a person or
# a script, not generated from a table (that is what lists and tags are for).
MAX_NODES = 200
MAX_VALUES = 1000
# The JSON text of a rule, as a form or a URL sends it.
MAX_JSON_BYTES = 100_000


class RuleError(ValueError):
    """A rule that cannot run: `path` names where (`$.all[0].op`), `message` what is wrong."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def shown(value: Any) -> str:
    """A value quoted in an error message, cut short."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
