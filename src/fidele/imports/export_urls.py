from django.urls import path

from fidele.imports import export_views

app_name = "exports"

urlpatterns = [
    path("contacts/", export_views.contacts_export_page, name="contacts"),
    path("contacts/download", export_views.contacts_download, name="contacts_download"),
    # The addresses of the first download links, kept for bookmarks and scripts.
    path("contacts.csv", export_views.contacts_download, {"choice": "csv"}, name="contacts_csv"),
    path("contacts.xlsx", export_views.contacts_download, {"choice": "xlsx"}, name="contacts_xlsx"),
]
