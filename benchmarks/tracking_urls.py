"""The product's URLs, plus the hello-world view benchmarks/tracking.py compares with."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello", content_type="text/plain")


urlpatterns = [path("t/hello/", hello), path("", include("fidele.config.urls"))]
