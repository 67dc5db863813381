from django.urls import path  # noqa: F401 (the pages are added beside the audit and duplicates)

app_name = "quality"

urlpatterns: list = []
