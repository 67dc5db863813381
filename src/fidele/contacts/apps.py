from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactsConfig(AppConfig):
    name = "fidele.contacts"
    label = "contacts"
    verbose_name = _("Contacts")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from fidele.contacts.search import sqlite_functions_register

        # The SQLite half of the name-search columns (fidele.contacts.search).
        connection_created.connect(sqlite_functions_register, dispatch_uid="fidele-name-fold")
