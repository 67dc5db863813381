"""The contact's fields, named once. Every list of them elsewhere is derived from these:
the contact form, what services accept, the import's targets, and what campaign templates may
read (merge tags). Column labels live with the screen that shows them."""

from __future__ import annotations

# What describes the person, in the order a person reads them (the contact form's order).
PERSON_FIELDS: tuple[str, ...] = (
    "civility",
    "first_name",
    "last_name",
    "email",
    "phone",
    "external_id",
    "address",
    "postal_code",
    "city",
    "country",
    "language",
    "birth_date",
    "joined_on",
)

# What a person edits in the contact form: the person, then the team's own bookkeeping.
FORM_FIELDS: tuple[str, ...] = (*PERSON_FIELDS, "status", "tracking_allowed", "notes")

# What the contact services write: the form's, plus where the contact came from and the custom
# attributes (both set by imports and the API, not by the form).
WRITABLE_FIELDS: tuple[str, ...] = (*FORM_FIELDS, "source", "attributes")

# What an import may fill in directly (tags, consent and custom attributes are mapped apart).
IMPORTABLE_FIELDS: tuple[str, ...] = (*PERSON_FIELDS, "notes", "source")

# What campaign templates may read as `{{ contact.<name> }}` (custom attributes are
# `contact.attr.<key>`): the person only; never the team's notes.
MERGE_FIELDS: tuple[str, ...] = PERSON_FIELDS
