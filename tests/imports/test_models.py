from __future__ import annotations

from django.utils import translation

from fidele.imports.models import ImportJob


def test_an_import_is_named_by_its_kind_and_file_in_the_readers_typography():
    job = ImportJob(kind=ImportJob.Kind.CONTACTS, original_name="clients.csv")

    with translation.override("fr"):
        assert str(job) == "Contacts : clients.csv"
    with translation.override("en"):
        assert str(job) == "Contacts: clients.csv"
