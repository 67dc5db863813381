from django.urls import path

from fidele.web import audit_log, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("audit/", audit_log.audit_log, name="audit_log"),
    # Under /contacts/ with the contacts app's own pages (config/urls.py tries those first).
    path("contacts/<int:pk>/", views.contact_detail, name="contact_detail"),
]
