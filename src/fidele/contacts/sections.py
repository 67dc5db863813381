"""Cards that apps above contacts add to the contact page, handed down from their
AppConfig.ready() (analytics' lifetime value and churn): the page shows them without knowing
the apps.

A section names a template and a function that reads what it shows of one contact; the
function returns None when it has nothing to say about that contact, and the card is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fidele.contacts.models import Contact


@dataclass(frozen=True)
class ContactSection:
    name: str  # a stable, unique label
    template: str  # rendered with `section` (what `context` returned) and `contact`
    context: Callable[[Contact], dict[str, Any] | None]
    order: int = 100  # lower first


_sections: dict[str, ContactSection] = {}


def contact_section_register(section: ContactSection) -> None:
    """Called from an app's `ready()`; registering a name twice replaces it."""
    _sections[section.name] = section


def contact_sections(*, contact: Contact) -> list[dict[str, Any]]:
    """[{"name", "template", "section"}] of the sections with something to show, in order."""
    shown = []
    for section in sorted(_sections.values(), key=lambda s: (s.order, s.name)):
        context = section.context(contact)
        if context is not None:
            shown.append({"name": section.name, "template": section.template, "section": context})
    return shown
