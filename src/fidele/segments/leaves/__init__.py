"""The kinds of segment-rule leaves: one small class each, in a registry.

A kind is named by the JSON key that opens it (`{"tag": ...}`, `{"orders": {...}}`; the field
leaf by `"field"`). The segments app registers its own from `SegmentsConfig.ready()`; an app
above segments (analytics' predicted values) registers its own the same way, from its own
`ready()`, with `leaf_register(MyLeaf())` in a module of its own.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.db.models import Q


class Leaf(Protocol):
    """`key`: the JSON key that names the kind; `keys`: every key its node may hold.
    `compile(node, path)` checks the node and returns its condition on Contact (never NULL),
    raising `fidele.segments.rules.RuleError` with a JSON path below `path`."""

    key: str
    keys: frozenset[str]

    def compile(self, node: dict[str, Any], path: str) -> Q: ...


_leaves: dict[str, Leaf] = {}


def leaf_register(leaf: Leaf) -> None:
    """Make rules accept `leaf.key` (registering a key again replaces it)."""
    _leaves[leaf.key] = leaf


def leaves() -> dict[str, Leaf]:
    return dict(_leaves)


def leaf_for(node: dict[str, Any]) -> Leaf | None:
    for key in node:
        leaf = _leaves.get(key) if isinstance(key, str) else None
        if leaf is not None:
            return leaf
    return None


def builtin_leaves_register() -> None:
    from fidele.segments.leaves.email import EmailLeaf
    from fidele.segments.leaves.field import FieldLeaf
    from fidele.segments.leaves.lists import ListLeaf
    from fidele.segments.leaves.orders import OrdersLeaf
    from fidele.segments.leaves.persona import PersonaLeaf
    from fidele.segments.leaves.rfm import RfmLeaf
    from fidele.segments.leaves.tag import TagLeaf

    for leaf in (
        FieldLeaf(),
        TagLeaf(),
        ListLeaf(),
        OrdersLeaf(),
        EmailLeaf(),
        RfmLeaf(),
        PersonaLeaf(),
    ):
        leaf_register(leaf)
