from __future__ import annotations

import datetime as dt
import io

import pytest
from django_tasks_db.models import DBTaskResult

from fidele.core.events import import_finished
from fidele.core.tasks import recurring_jobs
from fidele.quality import tasks
from fidele.quality.models import AuditSnapshot, DuplicatePair
from tests.factories import make_contact


@pytest.mark.django_db
def test_an_import_queues_one_audit_and_a_second_import_does_not_queue_another():
    import_finished.send(sender=None, kind="contacts", job_id=1)
    import_finished.send(sender=None, kind="orders", job_id=2)
    waiting = DBTaskResult.objects.filter(task_path=tasks.audit_after_import.module_path)
    assert waiting.count() == 1
    assert waiting.get().run_after is not None


@pytest.mark.django_db
def test_the_audit_after_an_import_stores_a_snapshot():
    make_contact("paul@gmial.com")
    pk = tasks.audit_after_import.call()
    snapshot = AuditSnapshot.objects.get(pk=pk)
    assert snapshot.trigger == AuditSnapshot.Trigger.IMPORT
    assert snapshot.finding("email_domain_typo")["count"] == 1


@pytest.mark.django_db
def test_the_nightly_audit_is_a_recurring_job_that_queues_its_next_night():
    assert "quality-audit-nightly" in recurring_jobs()
    tasks.audit_nightly.call()
    assert AuditSnapshot.objects.get().trigger == AuditSnapshot.Trigger.NIGHTLY
    assert DBTaskResult.objects.filter(task_path=tasks.audit_nightly.module_path).count() == 1


@pytest.mark.django_db
def test_an_import_from_the_command_line_queues_the_audit(tmp_path):
    from django.core.management import call_command

    path = tmp_path / "clients.csv"
    path.write_text("email;prenom\nmarie@example.fr;Marie\n", encoding="utf-8")
    call_command("import", "contacts", str(path), "--json", stdout=io.StringIO())
    assert DBTaskResult.objects.filter(task_path=tasks.audit_after_import.module_path).exists()


@pytest.mark.django_db
def test_a_listener_that_fails_never_fails_the_import(tmp_path):
    from django.core.management import call_command

    def broken(**kwargs):
        raise RuntimeError("listener down")

    import_finished.connect(broken, dispatch_uid="test-broken")
    try:
        path = tmp_path / "clients.csv"
        path.write_text("email;prenom\nmarie@example.fr;Marie\n", encoding="utf-8")
        out = io.StringIO()
        call_command("import", "contacts", str(path), "--json", stdout=out)
    finally:
        import_finished.disconnect(dispatch_uid="test-broken")
    assert '"created": 1' in out.getvalue()


def _a_person_typed_twice():
    born = dt.date(1971, 3, 14)
    make_contact(
        "helene.dupre@orange.fr", first_name="Hélène", last_name="Dupré",
        phone="+33612345678", postal_code="24100", city="Bergerac", birth_date=born,
    )  # fmt: skip
    make_contact(
        None, first_name="HELENE", last_name="DUPRE", phone="+33612345678",
        postal_code="24100", city="Bergerac",
    )  # fmt: skip


@pytest.mark.django_db
def test_the_audit_after_an_import_counts_the_duplicates_the_import_brought():
    _a_person_typed_twice()
    assert DuplicatePair.objects.count() == 0  # no search since the import
    snapshot = AuditSnapshot.objects.get(pk=tasks.audit_after_import.call())
    assert snapshot.finding("duplicate")["count"] == 2
    assert DuplicatePair.objects.count() == 1


@pytest.mark.django_db
def test_an_import_queues_the_search_and_the_audit_as_one_task_not_two_that_race():
    import_finished.send(sender=None, kind="contacts", job_id=1)
    queued = set(
        DBTaskResult.objects.filter(task_path__startswith="fidele.quality.").values_list(
            "task_path", flat=True
        )
    )
    assert queued == {tasks.audit_after_import.module_path}


@pytest.mark.django_db
def test_with_the_immediate_backend_an_import_leaves_an_audit_that_counts_its_duplicates(
    settings,
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    _a_person_typed_twice()
    import_finished.send(sender=None, kind="contacts", job_id=1)
    snapshot = AuditSnapshot.objects.get()
    assert snapshot.trigger == AuditSnapshot.Trigger.IMPORT
    assert snapshot.finding("duplicate")["count"] == 2


@pytest.mark.django_db
def test_the_nightly_audit_counts_duplicates_from_a_search_made_that_night():
    _a_person_typed_twice()
    tasks.audit_nightly.call()
    assert AuditSnapshot.objects.get().finding("duplicate")["count"] == 2
    assert "quality-duplicates" not in recurring_jobs()


@pytest.mark.django_db
def test_a_search_asked_for_from_the_duplicates_page_is_followed_by_an_audit_that_counts_it():
    from fidele.quality.duplicates_tasks import duplicates_search_run

    _a_person_typed_twice()
    assert duplicates_search_run.call() == 1
    assert AuditSnapshot.objects.get().finding("duplicate")["count"] == 2


@pytest.mark.django_db
def test_a_worker_starting_after_a_fresh_audit_waits_for_the_night():
    from django.utils import timezone

    AuditSnapshot.objects.create(trigger="demo", score=90, contacts=0, emails=0, orders=0)
    tasks.audit_nightly_schedule(delay=dt.timedelta(seconds=5))
    queued = DBTaskResult.objects.get(task_path=tasks.audit_nightly.module_path)
    local = timezone.localtime(queued.run_after)
    assert (local.hour, local.minute) == (tasks.NIGHTLY_HOUR, 0)


@pytest.mark.django_db
def test_a_worker_starting_when_no_audit_ran_for_a_day_audits_soon():
    from django.utils import timezone

    tasks.audit_nightly_schedule(delay=dt.timedelta(seconds=5))
    queued = DBTaskResult.objects.get(task_path=tasks.audit_nightly.module_path)
    assert queued.run_after <= timezone.now() + dt.timedelta(seconds=6)
