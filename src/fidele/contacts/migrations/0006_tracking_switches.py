from django.db import migrations, models

# Django rebuilds a SQLite table to add a NOT NULL column, and a rebuild of the contacts table
# would drop the indexes that migrations 0002-0004 made by hand (and copy a million rows): both
# databases add the column in place, with its default.
ADD_COLUMN = 'ALTER TABLE "contacts_contact" ADD COLUMN "tracking_allowed" boolean DEFAULT TRUE NOT NULL'
DROP_COLUMN = 'ALTER TABLE "contacts_contact" DROP COLUMN "tracking_allowed"'


class Migration(migrations.Migration):
    dependencies = [("contacts", "0005_customer_number_aliases")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD_COLUMN, DROP_COLUMN)],
            state_operations=[
                migrations.AddField(
                    model_name="contact",
                    name="tracking_allowed",
                    field=models.BooleanField(
                        db_default=True,
                        help_text=(
                            "Untick for someone who asked not to be followed: their emails will "
                            "carry no open pixel and no tracked links."
                        ),
                        verbose_name="opens and clicks measured",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="mailinglist",
            name="tracking",
            field=models.BooleanField(db_default=True, verbose_name="opens and clicks measured"),
        ),
    ]
