from django.urls import path

from fidele.imports import export_views

app_name = "exports"

urlpatterns = [
    path("contacts.csv", export_views.contacts_csv, name="contacts_csv"),
    path("contacts.xlsx", export_views.contacts_xlsx, name="contacts_xlsx"),
]
