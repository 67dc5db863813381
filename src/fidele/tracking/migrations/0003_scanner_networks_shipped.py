from django.db import migrations


def scanner_networks_load(apps, schema_editor):
    """A new installation knows the security gateways' networks from the start (the list that
    ships with it; `fidele tracking networks --scanners` replaces it)."""
    from fidele.tracking.networks import SHIPPED_SCANNERS, merged, parse_cidr_lines

    NetworkRange = apps.get_model("tracking", "NetworkRange")
    if NetworkRange.objects.filter(kind="scanner").exists():
        return
    lines = SHIPPED_SCANNERS.read_text(encoding="utf-8").splitlines()
    NetworkRange.objects.bulk_create(
        NetworkRange(kind="scanner", first=r.first, last=r.last, source=SHIPPED_SCANNERS.name)
        for r in merged(parse_cidr_lines(lines, name=SHIPPED_SCANNERS.name))
    )


class Migration(migrations.Migration):
    dependencies = [("tracking", "0002_machine_judgment")]

    operations = [migrations.RunPython(scanner_networks_load, migrations.RunPython.noop)]
