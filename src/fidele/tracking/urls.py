from django.urls import path

from fidele.tracking import views

app_name = "tracking"

# URL shapes agreed with the send engine, which builds them (keep them stable: links in emails
# already sent must keep working). The unsubscribe (u/) and preference (p/) pages under the same
# /t/ prefix are compliance's: compliance/link_urls.py.
urlpatterns = [
    path("o/<str:token>.gif", views.open_pixel, name="open"),
    path("c/<str:token>/", views.click, name="click"),
    path("h/<str:token>/", views.honeypot, name="honeypot"),
]
