from django.urls import path

from fidele.compliance import link_views

app_name = "compliance_links"

# Public, token-protected, included under /t/ beside tracking's open pixel and click redirect.
# URL shapes agreed with the send engine, which builds them (keep them stable: links in emails
# already sent must keep working, and the one-click POST of RFC 8058 goes to u/).
urlpatterns = [
    path("u/<str:token>/", link_views.unsubscribe, name="unsubscribe"),
    path("p/<str:token>/", link_views.preferences, name="preferences"),
]
