from importlib.util import find_spec

from django.urls import include, path

from fidele.delivery import views

app_name = "delivery"

# Mounted at the site's root (fidele.config.urls): the bounce reports keep the addresses they had
# when they were compliance's pages.
urlpatterns = [
    path("delivery/outbox/", views.outbox_list, name="outbox"),
    path("delivery/outbox/<int:pk>/", views.outbox_detail, name="outbox_detail"),
    path("delivery/outbox/<int:pk>/raw/", views.outbox_raw, name="outbox_raw"),
    path("compliance/bounces/", views.bounce_list, name="bounces"),
    path("compliance/bounces/<int:pk>/", views.bounce_detail, name="bounce_detail"),
]

# ESP webhooks (bounces, complaints) are another module; mounted once it exists.
if find_spec("fidele.delivery.webhook_urls") is not None:
    urlpatterns.append(path("delivery/webhooks/", include("fidele.delivery.webhook_urls")))
