"""A first import into an empty base: one transaction, the search indexes built after the rows.

Killed mid-file it saves nothing (tests/imports/test_crash.py); here: its result is the same as
batch by batch, a failure keeps nothing and says so, and indexes set aside and not built yet
(a process killed after the commit) are built by a starting worker and by `migrate`.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction

from fidele.contacts.bulk_load import (
    _search_indexes,
    search_indexes_pending,
    search_indexes_set_aside,
)
from fidele.contacts.models import Contact, DeferredIndex, MailingList
from fidele.core.tasks import worker_startup_run
from fidele.imports.services import import_file

pytestmark = pytest.mark.django_db(transaction=True)

FILE = "email;prénom;nom;ville\n" + "".join(
    f"c{n}@example.fr;Hélène;Dupré{n % 7};Lyon\n" for n in range(23)
)


def run(path, **kwargs):
    return import_file(kind="contacts", path=path, **kwargs)


@pytest.fixture
def small_batches(monkeypatch):
    from fidele.imports import contacts_engine

    monkeypatch.setattr(contacts_engine, "BATCH_ROWS", 5)


@pytest.mark.parametrize("writer_thread", [False, True], ids=["one thread", "writer thread"])
def test_a_first_import_gives_what_a_batch_by_batch_import_gives_with_every_index_back(
    write_file, settings, small_batches, writer_thread
):
    settings.IMPORT_WRITER_THREAD = writer_thread
    indexes = _search_indexes()
    assert indexes, "the contacts table has search indexes"

    settings.IMPORT_FIRST_LOAD = False
    batch_by_batch = run(write_file(FILE), list_name="Lettre", consent_confirmed=True)
    stored = sorted(Contact.objects.values_list("email", "search_last_first"))
    Contact.objects.all().delete()

    settings.IMPORT_FIRST_LOAD = True
    first_load = run(write_file(FILE), list_name="Lettre", consent_confirmed=True)

    keys = ("rows", "created", "rejected", "subscribed", "error")
    assert {k: first_load[k] for k in keys} == {k: batch_by_batch[k] for k in keys}
    assert first_load["created"] == 23 and first_load["subscribed"] == 23
    assert "search_indexes_seconds" not in batch_by_batch
    assert first_load["search_indexes_seconds"] >= 0
    assert sorted(Contact.objects.values_list("email", "search_last_first")) == stored
    assert MailingList.objects.get(name="Lettre").subscriptions.count() == 23
    assert _search_indexes() == indexes
    assert not DeferredIndex.objects.exists()


@pytest.mark.parametrize("writer_thread", [False, True], ids=["one thread", "writer thread"])
def test_a_first_import_that_fails_keeps_nothing_and_says_so(
    write_file, settings, small_batches, monkeypatch, writer_thread
):
    from fidele.imports import contacts_engine

    settings.IMPORT_WRITER_THREAD = writer_thread
    indexes = _search_indexes()
    original = contacts_engine.ContactImport._tag
    calls = []

    def failing_tag(self, pairs):
        calls.append(len(pairs))
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return original(self, pairs)

    monkeypatch.setattr(contacts_engine.ContactImport, "_tag", failing_tag)
    summary = run(write_file(FILE))

    assert "nothing was saved" in summary["error"]
    assert summary["created"] == 0
    assert not Contact.objects.exists()
    assert _search_indexes() == indexes and not DeferredIndex.objects.exists()


def test_a_broken_line_keeps_the_rows_before_it_in_a_first_import(write_file, small_batches):
    import csv as csv_module

    indexes = _search_indexes()
    old = csv_module.field_size_limit(200)
    try:
        path = write_file(FILE + 'b@x.fr;"B\n' + "c@x.fr;C\n" * 100)
        summary = run(path)
    finally:
        csv_module.field_size_limit(old)

    assert "never closed" in summary["error"]
    assert Contact.objects.count() == summary["created"] == 23
    assert _search_indexes() == indexes and not DeferredIndex.objects.exists()


def test_indexes_left_to_build_by_a_killed_import_are_built_by_a_starting_worker_and_migrate():
    indexes = _search_indexes()
    # What an import killed after its commit and before its builds leaves.
    with transaction.atomic():
        assert search_indexes_set_aside()
    assert _search_indexes() == []
    assert search_indexes_pending() == sorted(name for name, _sql in indexes)

    done = worker_startup_run()

    assert done["contacts-search-indexes"] == [name for name, _sql in indexes]
    assert _search_indexes() == indexes and search_indexes_pending() == []

    with transaction.atomic():
        search_indexes_set_aside()
    call_command("migrate", verbosity=0)
    assert _search_indexes() == indexes and search_indexes_pending() == []


def test_search_indexes_stay_when_the_base_is_not_empty():
    Contact.objects.create(email="someone@example.fr")
    indexes = _search_indexes()
    with transaction.atomic():
        assert search_indexes_set_aside() is False
    assert _search_indexes() == indexes and not DeferredIndex.objects.exists()
    with pytest.raises(RuntimeError):
        search_indexes_set_aside()  # outside a transaction: refused
