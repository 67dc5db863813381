"""Layouts that still hold the first default layout (fixed 600 px wide, which phones had to zoom)
get the fluid one; a layout someone edited is left alone."""

from django.db import migrations

OLD_DEFAULT_HTML = """<!DOCTYPE html>
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


def forward(apps, schema_editor):
    from fidele.campaigns.layouts import DEFAULT_LAYOUT_HTML

    Layout = apps.get_model("campaigns", "Layout")
    Layout.objects.filter(html=OLD_DEFAULT_HTML).update(html=DEFAULT_LAYOUT_HTML)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_utm_campaign_follows_the_name")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
