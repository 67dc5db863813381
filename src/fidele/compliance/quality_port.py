"""Compliance's side of the data-quality plan's "suppress disposable addresses"
(`fidele.quality.suppression`): the addresses go on the suppression list with their own reason,
and its undo lifts exactly the suppressions it added."""

from __future__ import annotations

from collections.abc import Collection

from fidele.compliance.models import Suppression
from fidele.compliance.services import suppressions_add_new, suppressions_lift
from fidele.core.actors import Actor

DETAILS = {"source": "quality", "note": "disposable address"}


class ComplianceSuppressor:
    def disposable_suppress(self, *, actor: Actor, emails: Collection[str]) -> dict[str, int]:
        return suppressions_add_new(
            actor=actor, emails=emails, reason=Suppression.Reason.DISPOSABLE, details=DETAILS
        )

    def disposable_unsuppress(self, *, actor: Actor, ids: Collection[int]) -> int:
        return suppressions_lift(actor=actor, ids=ids, reason=Suppression.Reason.DISPOSABLE)


SUPPRESSOR = ComplianceSuppressor()
