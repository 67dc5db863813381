"""Names folded for searching (lower case, no accents, no hyphens or apostrophes) in two
generated columns, both orders, prefix-indexed: "dupre" finds Hélène Dupré, "helene dupre" too.

The SQL is fidele.contacts.search.FoldedName (a translate() on PostgreSQL, the app's own Python
function on SQLite): changing its folding later needs a migration that rewrites the columns.

On SQLite, adding a stored generated column rebuilds the table, which drops the indexes made
with raw SQL by 0002 and 0003 (the plain AlterField of 0003 dropped 0002's phone and (city, id)
indexes already): they are made again here, so that every SQLite database ends with them.
"""

from django.db import migrations, models

from fidele.contacts.search import FoldedName

POSTGRES_CREATE = [
    "CREATE INDEX IF NOT EXISTS contact_search_first_last_like "
    "ON contacts_contact (search_first_last varchar_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS contact_search_last_first_like "
    "ON contacts_contact (search_last_first varchar_pattern_ops)",
    # The last-name prefix search it replaces.
    "DROP INDEX IF EXISTS contact_lower_last_name_like",
]
SQLITE_CREATE = [
    "CREATE INDEX IF NOT EXISTS contact_search_first_last ON contacts_contact (search_first_last)",
    "CREATE INDEX IF NOT EXISTS contact_search_last_first ON contacts_contact (search_last_first)",
    # Lost by table rebuilds (see above).
    "CREATE INDEX IF NOT EXISTS contact_phone_idx ON contacts_contact (phone)",
    "CREATE INDEX IF NOT EXISTS contact_city_id_idx ON contacts_contact (city, id)",
    "CREATE INDEX IF NOT EXISTS contact_postal_code_plain ON contacts_contact (postal_code)",
    "DROP INDEX IF EXISTS contact_lower_last_name_plain",
]


def create_indexes(apps, schema_editor):
    connection = schema_editor.connection
    statements = POSTGRES_CREATE if connection.vendor == "postgresql" else SQLITE_CREATE
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def drop_indexes(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE INDEX IF NOT EXISTS contact_lower_last_name_like "
                "ON contacts_contact (lower(last_name) text_pattern_ops)"
            )
        else:
            cursor.execute(
                "CREATE INDEX IF NOT EXISTS contact_lower_last_name_plain "
                "ON contacts_contact (lower(last_name))"
            )


class Migration(migrations.Migration):
    dependencies = [("contacts", "0003_lean_indexes")]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="search_first_last",
            field=models.GeneratedField(
                db_persist=True,
                expression=FoldedName("first_name", "last_name"),
                output_field=models.CharField(max_length=201),
            ),
        ),
        migrations.AddField(
            model_name="contact",
            name="search_last_first",
            field=models.GeneratedField(
                db_persist=True,
                expression=FoldedName("last_name", "first_name"),
                output_field=models.CharField(max_length=201),
            ),
        ),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
