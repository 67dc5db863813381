from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactsConfig(AppConfig):
    name = "fidele.contacts"
    label = "contacts"
    verbose_name = _("Contacts")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from fidele.contacts.bulk_load import search_indexes_build
        from fidele.contacts.search import sqlite_functions_register
        from fidele.core.tasks import worker_startup_register

        # Indexes a first import set aside and did not build (a process killed after its
        # commit) are built when a worker starts and after `migrate` (fidele.contacts.bulk_load).
        worker_startup_register("contacts-search-indexes", search_indexes_build)
        post_migrate.connect(_search_indexes_build, sender=self, dispatch_uid="fidele-indexes")

        # The SQLite half of the name-search columns (fidele.contacts.search).
        connection_created.connect(sqlite_functions_register, dispatch_uid="fidele-name-fold")


def _search_indexes_build(**kwargs: object) -> None:
    from fidele.contacts.bulk_load import search_indexes_build

    search_indexes_build()
