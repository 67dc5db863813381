from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    # First: the open pixel and the click redirect are what the server answers most (every
    # recipient, many times), and Django tries the patterns in order.
    path("t/", include("fidele.tracking.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("fidele.accounts.urls")),
    path("contacts/", include("fidele.contacts.urls")),
    path("orders/", include("fidele.commerce.urls")),
    path("imports/", include("fidele.imports.urls")),
    path("exports/", include("fidele.imports.export_urls")),
    path("campaigns/", include("fidele.campaigns.urls")),
    path("quality/", include("fidele.quality.urls")),
    path("segments/", include("fidele.segments.urls")),
    path("compliance/", include("fidele.compliance.urls")),
    path("analytics/", include("fidele.analytics.urls")),
    # RFM, personas, customers by product and profile (the segment pages are segments/urls.py).
    path("customers/", include("fidele.segments.insight_urls")),
    # delivery/ (the outbox, ESP webhooks) and compliance/bounces/ (the bounce reports).
    path("", include("fidele.delivery.urls")),
    # Public, token-protected, from links in emails: unsubscribe and preference centre
    # (compliance; the open pixel and click redirect of tracking are at the top).
    path("t/", include("fidele.compliance.link_urls")),
    path("", include("fidele.web.urls")),
]
