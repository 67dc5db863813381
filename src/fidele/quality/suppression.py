"""The suppression list, as the plan's "suppress disposable addresses" needs it.

The list belongs to compliance, a layer above quality: quality does not import it. It asks an
`AddressSuppressor`, a port that compliance implements and registers when it starts
(`fidele/compliance/quality_port.py`), as campaigns hands tracking its message lookup.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from fidele.core.actors import Actor


class AddressSuppressor(Protocol):
    def disposable_suppress(self, *, actor: Actor, emails: Collection[str]) -> dict[str, int]:
        """Put each address that is not on the list yet on it, as a disposable address, each
        audited; returns {address: suppression id} of those it added (an address already
        suppressed, for whatever reason, is left as it is and not returned). The contacts'
        status is the caller's to set."""
        ...

    def disposable_unsuppress(self, *, actor: Actor, ids: Collection[int]) -> int:
        """Lift the suppressions of `ids` that are still for a disposable address (one raised
        since to a stronger reason, an unsubscription or a complaint, stays), each audited;
        returns how many. The contacts' status is the caller's to put back."""
        ...


_suppressor: AddressSuppressor | None = None


def address_suppressor_register(suppressor: AddressSuppressor) -> None:
    """Called by the app that owns the suppression list, in its AppConfig.ready()."""
    global _suppressor
    _suppressor = suppressor


def address_suppressor() -> AddressSuppressor:
    if _suppressor is None:
        raise ImproperlyConfigured(
            "No address suppressor is registered: suppressing disposable addresses needs the "
            "app that owns the suppression list (fidele.compliance) in INSTALLED_APPS."
        )
    return _suppressor
