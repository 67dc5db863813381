from django.urls import path

from fidele.quality import views

app_name = "quality"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("run/", views.run_now, name="run"),
    path("mx/", views.mx_check, name="mx_check"),
    path("orders/", views.order_outliers, name="order_outliers"),
    path("fix/typos/", views.fix_typos, name="fix_typos"),
    path("fix/disposable/", views.fix_disposable, name="fix_disposable"),
    path("fixes/<int:pk>/undo/", views.fix_undo, name="fix_undo"),
]
