"""ESP webhooks, mounted at /delivery/webhooks/ (public; anymail checks each ESP's signature
or the basic auth in ANYMAIL["WEBHOOK_SECRET"]).

    /delivery/webhooks/anymail/<esp>/tracking/   e.g. brevo, mailgun, amazon_ses, postmark,
                                                 sendgrid, sparkpost, mailjet, postal, resend
"""

from django.urls import include, path

from fidele.delivery import webhooks  # noqa: F401  (connects the tracking signal receiver)

urlpatterns = [
    path("anymail/", include("anymail.urls")),
]
