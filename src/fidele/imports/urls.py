from django.urls import path

from fidele.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/progress/", views.progress, name="progress"),
    path("<int:pk>/rejected.csv", views.rejected, name="rejected"),
    path("<int:pk>/warnings.csv", views.warnings, name="warnings"),
    path("<int:pk>/discard/", views.discard, name="discard"),
    path("<int:pk>/retry/", views.retry, name="retry"),
]
