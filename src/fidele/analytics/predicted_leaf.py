"""The segments' `{"predicted": {"metric": "churn_risk", "op": "gte", "value": 0.5}}` leaf:
contacts by the latest lifetime-value and churn predictions (fidele.analytics.clv_selectors).
Analytics registers it from its `ready()` (segments cannot know analytics), so that a rule
reads "at risk of leaving, and worth over 300 €" like any other."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from fidele.analytics.clv_selectors import METRICS, OPS, PredictedRuleError, predicted_condition
from fidele.segments.errors import RuleError, shown
from fidele.segments.leaves.values import Options


class PredictedLeaf:
    key = "predicted"
    keys = frozenset({"predicted"})
    options = frozenset({"metric", "op", "value"})

    def compile(self, node: dict[str, Any], path: str) -> Q:
        spec = Options(node, self.key, self.options, path)
        metric = spec.read("metric", _one_of(METRICS))
        op = spec.read("op", _one_of(OPS))
        value = spec.read("value", _number)
        for name, given in (("metric", metric), ("op", op), ("value", value)):
            if given is None:
                raise RuleError(spec.path, _("“%(name)s” is missing") % {"name": name})
        try:
            return Q(predicted_condition(metric=metric, op=op, value=value))
        except PredictedRuleError as exc:
            raise RuleError(spec.path, str(exc)) from None


def _one_of(allowed: Any) -> Any:
    def read(value: Any, path: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise RuleError(
                path,
                _("unknown %(v)s (expected one of: %(allowed)s)")
                % {"v": shown(value), "allowed": ", ".join(allowed)},
            )
        return value

    return read


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleError(path, _("expected a number, got %(v)s") % {"v": shown(value)})
    return float(value)
