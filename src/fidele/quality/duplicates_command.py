"""`fidele quality duplicates [--json]`: search the base for likely duplicates, store them for
the duplicates page, and print them.

With --json, one object (a contract read by outside checks, DESIGN.md; keys may be added):
`{"pairs": [{"a": CONTACT, "b": CONTACT, "score": number, "reasons": [str]}], "contacts": int,
"seconds": number}`, CONTACT being `{"id", "external_id", "email"}`; the pairs proposed at the
default threshold, best first; the reasons in the command's language.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext as _

from fidele.contacts.models import Contact
from fidele.quality.duplicates import duplicates_search, pair_contacts, reason_texts


def _contact(contact: Contact) -> dict[str, Any]:
    return {"id": contact.pk, "external_id": contact.external_id, "email": contact.email}


def duplicates(command: Any, options: dict[str, Any]) -> None:
    result = duplicates_search()
    contacts = pair_contacts(result.pairs)
    pairs = [
        (contacts[p.low], contacts[p.high], p)
        for p in result.pairs
        if p.low in contacts and p.high in contacts
    ]
    if options.get("json"):
        data = {
            "pairs": [
                {
                    "a": _contact(a),
                    "b": _contact(b),
                    "score": p.score,
                    "reasons": reason_texts(p.reasons),
                }
                for a, b, p in pairs
            ],
            "contacts": result.contacts,
            "seconds": round(result.seconds, 3),
        }
        command.stdout.write(json.dumps(data, ensure_ascii=False))
        return
    for a, b, p in pairs:
        command.stdout.write(
            f"{p.score:.3f}  #{a.pk} {a.display_name}  ~  #{b.pk} {b.display_name}  "
            f"({', '.join(reason_texts(p.reasons))})"
        )
    command.stdout.write(
        _("%(pairs)d likely duplicate pairs among %(contacts)d contacts (%(seconds).1f s).")
        % {"pairs": len(pairs), "contacts": result.contacts, "seconds": result.seconds}
    )
