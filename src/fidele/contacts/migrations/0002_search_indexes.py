"""Indexes for the contacts list's prefix searches, its phone search and its sort by city.

PostgreSQL can use a btree index for `LIKE 'abc%'` only with a pattern operator class (unless the
database collation is exactly "C"); Django adds such indexes by itself for unique text columns
(email, external_id) but not for the expressions searched here. They are written as SQL rather
than in the model's Meta because operator classes are PostgreSQL-only; SQLite gets the plain
phone index, which is all it can use.
"""

from django.db import migrations

POSTGRES_INDEXES = [
    (
        "contact_lower_last_name_like",
        "CREATE INDEX IF NOT EXISTS contact_lower_last_name_like "
        "ON contacts_contact (lower(last_name) text_pattern_ops)",
    ),
    (
        "contact_lower_city_like",
        "CREATE INDEX IF NOT EXISTS contact_lower_city_like "
        "ON contacts_contact (lower(city) text_pattern_ops)",
    ),
    (
        "contact_postal_code_like",
        "CREATE INDEX IF NOT EXISTS contact_postal_code_like "
        "ON contacts_contact (postal_code varchar_pattern_ops)",
    ),
]
PHONE_INDEX = "CREATE INDEX IF NOT EXISTS contact_phone_idx ON contacts_contact (phone)"
# Sorting the list by city pages with a (city, id) cursor; without the id in the index every page
# re-sorts all the contacts of the city (100,000 for a big town at 1M contacts).
CITY_ID_INDEX = "CREATE INDEX IF NOT EXISTS contact_city_id_idx ON contacts_contact (city, id)"


def create(apps, schema_editor):
    connection = schema_editor.connection
    statements = [PHONE_INDEX, CITY_ID_INDEX]
    if connection.vendor == "postgresql":
        statements += [sql for _, sql in POSTGRES_INDEXES]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def drop(apps, schema_editor):
    connection = schema_editor.connection
    names = ["contact_phone_idx", "contact_city_id_idx"]
    if connection.vendor == "postgresql":
        names += [name for name, _ in POSTGRES_INDEXES]
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")  # noqa: S608 - constant names


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
