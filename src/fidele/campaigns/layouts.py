"""Layouts: the frame around a campaign's content, with the legal footer.

French law (LCEN art. L.34-5 CPCE) and the GDPR ask every commercial email to say who sends it,
where they can be reached by post, and how to stop receiving it; the default layout carries the
three, and the renderer adds the footer to any layout that forgot the unsubscribe link.

Creating and changing a layout checks its template: layout_create and layout_update are in
fidele.campaigns.services, next to the other services that check templates (the renderer reads
the default layout from here, so this module cannot depend on it).
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from fidele.campaigns.models import Layout

# `{{ content }}` receives the campaign body. Tables, because Outlook still renders with Word;
# fluid up to 600 px (phones get the whole width), with a fixed 600 px table for Outlook only.
DEFAULT_LAYOUT_HTML = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ subject }}</title>
<style>
body { margin: 0; padding: 0; background: #f3f4f6; font-family: Helvetica, Arial, sans-serif; }
.wrapper { width: 100%; background: #f3f4f6; padding: 24px 0; }
.main { width: 100%; max-width: 600px; margin: 0 auto; background: #ffffff; border-radius: 6px; }
.content { padding: 24px 32px; color: #111827; font-size: 16px; line-height: 1.5; }
.content a { color: #1d4ed8; }
.content img { max-width: 100%; height: auto; }
.footer { width: 100%; max-width: 600px; margin: 0 auto; padding: 16px 32px; color: #6b7280;
  font-size: 12px; line-height: 1.5; text-align: center; }
.footer a { color: #6b7280; }
@media (max-width: 480px) {
  .wrapper { padding: 0 !important; }
  .content, .footer { padding: 16px !important; }
}
</style>
</head>
<body>
<table role="presentation" class="wrapper" width="100%" cellpadding="0" cellspacing="0">
<tr><td>
<!--[if mso]><table role="presentation" width="600" align="center" cellpadding="0"
 cellspacing="0"><tr><td><![endif]-->
<table role="presentation" class="main" width="100%" cellpadding="0" cellspacing="0" align="center">
<tr><td class="content">
{{ content }}
</td></tr>
</table>
<table role="presentation" class="footer" width="100%" cellpadding="0" cellspacing="0"
 align="center">
<tr><td>
<p>{{ sender_name }}<br>{{ sender_postal_address }}</p>
<p>Vous recevez ce message car vous êtes inscrit(e) à nos communications.
<a href="{{ unsubscribe_url }}">Se désinscrire</a></p>
</td></tr>
</table>
<!--[if mso]></td></tr></table><![endif]-->
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
            # A name that says what it looks like: it is chosen beside the user's own layouts.
            name=_("Simple, one column"),
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
