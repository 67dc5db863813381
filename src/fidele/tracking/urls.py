from django.urls import path

from fidele.tracking import views

app_name = "tracking"

# URL shapes agreed with the send engine, which builds them (keep them stable: links in emails
# already sent must keep working).
urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("p/<str:token>/", views.preferences, name="preferences"),
    path("o/<str:token>.gif", views.open_pixel, name="open"),
    path("c/<str:token>/", views.click, name="click"),
]
