"""Showing an address without giving it away: on the page a recipient reaches from an email
(anyone holding the link sees it) and in the audit trail (which must not keep a copy of an
address that an erasure request removes)."""

from __future__ import annotations


def mask_email(email: str) -> str:
    """marie.dupont@example.fr -> ma•••@example.fr: enough to recognise one's own address.

    A short local part (three characters or fewer) keeps only its first character, so that
    most of it stays hidden; something without an "@" shows nothing at all."""
    local, at, domain = (email or "").partition("@")
    if not at:
        return "•••"
    keep = 1 if len(local) <= 3 else 2
    return f"{local[:keep]}•••@{domain}"
