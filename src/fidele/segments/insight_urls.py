"""The customer insight pages (RFM, personas, by product and profile), under /customers/."""

from django.urls import path

from fidele.segments import rfm_views

app_name = "insights"

urlpatterns = [
    path("", rfm_views.rfm_page, name="rfm"),
    path("personas/", rfm_views.personas_page, name="personas"),
    path("products/", rfm_views.profile_page, name="profile"),
    path("refresh/", rfm_views.refresh, name="refresh"),
]
