"""Runs of the sending tasks queued before they moved from fidele.delivery.tasks to
fidele.campaigns.tasks (a scheduled campaign's start, an A/B winner's pick, a retry, the
watchdog) keep their place in the queue: their task path is rewritten to the new module, so that
the worker of the new version can import them. Runs already finished keep the path they ran
under (history). Reversible: the backward migration writes the old paths back."""

from django.db import migrations

OLD = "fidele.delivery.tasks."
NEW = "fidele.campaigns.tasks."
TASKS = ("campaign_start", "campaign_send", "campaign_resume", "ab_pick_winner", "sending_watchdog")
NOT_FINISHED = ("READY", "RUNNING")


def _rename(apps, old_prefix: str, new_prefix: str) -> None:
    DBTaskResult = apps.get_model("django_tasks_database", "DBTaskResult")
    for name in TASKS:
        DBTaskResult.objects.filter(
            task_path=old_prefix + name, status__in=NOT_FINISHED
        ).update(task_path=new_prefix + name)


def forwards(apps, schema_editor):
    _rename(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _rename(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
