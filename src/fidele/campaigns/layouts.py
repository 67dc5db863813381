"""Layouts: the frame around a campaign's content, with the legal footer.

French law (LCEN art. L.34-5 CPCE) and the GDPR ask every commercial email to say who sends it,
where they can be reached by post, and how to stop receiving it; the default layout carries the
three, and the renderer adds the footer to any layout that forgot the unsubscribe link.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from fidele.campaigns.models import Layout
from fidele.core.audit import audit_record

# `{{ content }}` receives the campaign body. Tables, because Outlook still renders with Word.
DEFAULT_LAYOUT_HTML = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ subject }}</title>
<style>
body { margin: 0; padding: 0; background: #f3f4f6; font-family: Helvetica, Arial, sans-serif; }
.wrapper { width: 100%; background: #f3f4f6; padding: 24px 0; }
.main { max-width: 600px; margin: 0 auto; background: #ffffff; border-radius: 6px; }
.content { padding: 24px 32px; color: #111827; font-size: 16px; line-height: 1.5; }
.content a { color: #1d4ed8; }
.footer { max-width: 600px; margin: 0 auto; padding: 16px 32px; color: #6b7280;
  font-size: 12px; line-height: 1.5; text-align: center; }
.footer a { color: #6b7280; }
</style>
</head>
<body>
<table role="presentation" class="wrapper" width="100%" cellpadding="0" cellspacing="0">
<tr><td>
<table role="presentation" class="main" width="600" cellpadding="0" cellspacing="0" align="center">
<tr><td class="content">
{{ content }}
</td></tr>
</table>
<table role="presentation" class="footer" width="600" cellpadding="0" cellspacing="0"
 align="center">
<tr><td>
<p>{{ sender_name }}<br>{{ sender_postal_address }}</p>
<p>Vous recevez ce message car vous êtes inscrit(e) à nos communications.
<a href="{{ unsubscribe_url }}">Se désinscrire</a></p>
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"""

DEFAULT_SENDER_NAME = "Votre entreprise"
DEFAULT_POSTAL_ADDRESS = "Adresse postale à compléter"


def layout_default() -> Layout:
    """The default layout, created on first use (and marked default when none is)."""
    layout = Layout.objects.filter(is_default=True).order_by("pk").first()
    if layout is not None:
        return layout
    with transaction.atomic():
        layout, _created = Layout.objects.get_or_create(
            name=_("Default layout"),
            defaults={
                "html": DEFAULT_LAYOUT_HTML,
                "sender_name": DEFAULT_SENDER_NAME,
                "sender_postal_address": DEFAULT_POSTAL_ADDRESS,
                "is_default": True,
            },
        )
        if not layout.is_default:
            layout.is_default = True
            layout.save(update_fields=["is_default", "updated_at"])
    return layout


def layout_needs_address(layout: Layout | None) -> bool:
    """True while the sender has not written their real postal address (shown as a warning)."""
    if layout is None:
        return True
    address = (layout.sender_postal_address or "").strip()
    return not address or address == DEFAULT_POSTAL_ADDRESS


@transaction.atomic
def layout_update(*, layout: Layout, actor: Any = None, **values: Any) -> Layout:
    from fidele.campaigns.rendering import layout_check
    from fidele.core.audit import model_changes

    allowed = {"name", "html", "sender_name", "sender_postal_address", "is_default"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown layout fields: {sorted(unknown)}")
    changes = model_changes(layout, values)
    for field, value in values.items():
        setattr(layout, field, value)
    problems = layout_check(layout=layout)
    if problems:
        raise problems[0]
    layout.save()
    if values.get("is_default"):
        Layout.objects.exclude(pk=layout.pk).filter(is_default=True).update(is_default=False)
    if "html" in changes:
        changes["html"] = ["…", "…"]
    if changes:
        audit_record(actor=actor, action="update", obj=layout, changes=changes)
    return layout


@transaction.atomic
def layout_create(
    *,
    name: str,
    html: str,
    sender_name: str,
    sender_postal_address: str,
    is_default: bool = False,
    actor: Any = None,
) -> Layout:
    from fidele.campaigns.rendering import layout_check

    layout = Layout(
        name=name,
        html=html,
        sender_name=sender_name,
        sender_postal_address=sender_postal_address,
        is_default=is_default,
    )
    problems = layout_check(layout=layout)
    if problems:
        raise problems[0]
    layout.save()
    if is_default:
        Layout.objects.exclude(pk=layout.pk).filter(is_default=True).update(is_default=False)
    audit_record(actor=actor, action="create", obj=layout)
    return layout
