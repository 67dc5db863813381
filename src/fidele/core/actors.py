"""Who did something. Every audited write names one of three kinds of actor:

- a user of the app (a logged-in account: `django.contrib.auth`'s user model);
- a `Recipient`: a person acting through a signed link in an email they received (unsubscribe,
  preference centre), who has no account and is known only by that link;
- `System`: the application itself on nobody's direct behalf (a command, a task, bounce
  processing), named so that the audit log says which part acted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone who followed a signed link from an email; `email` is the address it was sent to."""

    email: str
    contact_id: int | None = None

    # What the audit log shows: who they are is in the record's object, not in the actor.
    label = "recipient via unsubscribe link"


@dataclass(frozen=True, slots=True)
class System:
    """The application acting by itself; `name` says which part ("fidele demo", "bounce
    processing"...)."""

    name: str = "system"

    @property
    def label(self) -> str:
        return self.name


SYSTEM = System()

# `None` stays accepted and means SYSTEM, so that internal callers need not build one.
Actor = AbstractBaseUser | Recipient | System | None


def actor_label_for(actor: Actor) -> str:
    """The name the audit log keeps for the actor (also after a user is deleted)."""
    if actor is None:
        return SYSTEM.label
    if isinstance(actor, Recipient | System):
        return actor.label
    return actor.get_username()


# The labels above are stored in the audit log as they are (English, stable: filters and scripts
# match them); screens show them in the reader's language through this table.
ACTOR_LABELS = {
    Recipient.label: _("the recipient, through a link in the email"),
    SYSTEM.label: _("system"),
    "fidele demo": _("demo shop set-up"),
    "fidele export": _("export command"),
    "bounce processing": _("bounce processing"),
    "import recovery": _("import recovery"),
    "import retention": _("clean-up of old imported files"),
    "login page": _("login page"),
    "website snippet": _("the shop's website (analytics snippet)"),
}


def actor_label_display(label: str) -> str:
    """A stored actor label in the reader's language: the known parts of the application are
    translated, "cli:<login>" reads "command line (<login>)", a user's login stays as it is."""
    if not label:
        return str(ACTOR_LABELS[SYSTEM.label])
    if label in ACTOR_LABELS:
        return str(ACTOR_LABELS[label])
    if label == "cli" or label.startswith("cli:"):
        login = label.partition(":")[2]
        if not login:
            return gettext("command line")
        return gettext("command line (%(login)s)") % {"login": login}
    return label
