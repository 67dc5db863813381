"""Contact.last_engaged_at (contacts 0008) filled from the events already recorded: each contact's
last human open or click. Later events keep it up to date (tracking.services.event_record)."""

from django.db import migrations
from django.db.models import Max, OuterRef, Subquery


def backfill(apps, schema_editor):
    Contact = apps.get_model("contacts", "Contact")
    EmailEvent = apps.get_model("tracking", "EmailEvent")
    human = EmailEvent.objects.filter(type__in=("open", "click"), is_machine=False)
    latest = (
        human.filter(contact_id=OuterRef("pk"))
        .order_by()
        .values("contact_id")
        .annotate(last=Max("at"))
        .values("last")
    )
    Contact.objects.filter(pk__in=human.values("contact_id")).update(
        last_engaged_at=Subquery(latest)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0003_scanner_networks_shipped"),
        ("contacts", "0008_last_engagement"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
