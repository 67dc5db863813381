from importlib.util import find_spec

from django.urls import include, path

from fidele.delivery import views

app_name = "delivery"

urlpatterns = [
    path("outbox/", views.outbox_list, name="outbox"),
    path("outbox/<int:pk>/", views.outbox_detail, name="outbox_detail"),
    path("outbox/<int:pk>/raw/", views.outbox_raw, name="outbox_raw"),
]

# ESP webhooks (bounces, complaints) are another module; mounted once it exists.
if find_spec("fidele.delivery.webhook_urls") is not None:
    urlpatterns.append(path("webhooks/", include("fidele.delivery.webhook_urls")))
