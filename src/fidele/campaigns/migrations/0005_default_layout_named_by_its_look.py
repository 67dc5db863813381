"""The default layout was named "Default layout" ("Mise en page par défaut"), and the campaign
form offered an empty choice of the same name beside it: two "default layouts" in one list. It
now has a name that says what it looks like. A layout the user renamed is left alone, and so is
the old name when the new one is taken."""

from django.db import migrations

# Old name -> new name, in the language the layout was created in (the app's language then).
RENAMES = {
    "Mise en page par défaut": "Simple, une colonne",
    "Default layout": "Simple, one column",
}


def forward(apps, schema_editor):
    Layout = apps.get_model("campaigns", "Layout")
    for old, new in RENAMES.items():
        if not Layout.objects.filter(name=new).exists():
            Layout.objects.filter(name=old).update(name=new)


def backward(apps, schema_editor):
    Layout = apps.get_model("campaigns", "Layout")
    for old, new in RENAMES.items():
        if not Layout.objects.filter(name=old).exists():
            Layout.objects.filter(name=new).update(name=old)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_default_layout_fluid")]

    operations = [migrations.RunPython(forward, backward)]
