from django.urls import path

from fidele.commerce import views

app_name = "commerce"

urlpatterns = [
    path("", views.order_list, name="order_list"),
    path("<int:pk>/", views.order_detail, name="order_detail"),
]
