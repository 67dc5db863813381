from django.urls import path
from django.views.generic import RedirectView

from fidele.compliance import views

app_name = "compliance"

urlpatterns = [
    path(
        "",
        RedirectView.as_view(
            pattern_name="compliance:suppressions", http_method_names=["get", "head"]
        ),
        name="index",
    ),
    path("suppressions/", views.suppression_list, name="suppressions"),
    path("suppressions/add/", views.suppression_add, name="suppression_add"),
    path("suppressions/<int:pk>/remove/", views.suppression_remove, name="suppression_remove"),
]
