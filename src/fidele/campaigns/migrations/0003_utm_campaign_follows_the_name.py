"""utm_campaign defaults are no longer stored: a campaign whose stored value is the default its
creation wrote (`<id>-<slug of its name>`) gets an empty field, which means "made from the id and
the current name" (Campaign.utm_campaign_value). The value its links carry is the same today;
after a rename it follows the new name. A value a user typed is kept."""

from django.db import migrations
from django.utils.text import slugify


def forward(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    for pk, name, utm in Campaign.objects.exclude(utm_campaign="").values_list(
        "pk", "name", "utm_campaign"
    ):
        if utm == f"{pk}-{slugify(name)}"[:100]:
            Campaign.objects.filter(pk=pk).update(utm_campaign="")


def backward(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    for pk, name in Campaign.objects.filter(utm_campaign="").values_list("pk", "name"):
        Campaign.objects.filter(pk=pk).update(utm_campaign=f"{pk}-{slugify(name)}"[:100])


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0002_task_paths_from_delivery")]

    operations = [migrations.RunPython(forward, backward)]
