from django.urls import path

from fidele.segments import views

app_name = "segments"

urlpatterns = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_create, name="create"),
    path("count/", views.segment_count_live, name="count"),
    path("write-to/", views.segment_write_to, name="write_to"),
    path("<int:pk>/", views.segment_detail, name="detail"),
    path("<int:pk>/edit/", views.segment_edit, name="edit"),
    path("<int:pk>/delete/", views.segment_delete, name="delete"),
    path("<int:pk>/bulk/", views.segment_bulk, name="bulk"),
    path("<int:pk>/freeze/", views.segment_freeze, name="freeze"),
    path("<int:pk>/emails-sha256.txt", views.segment_hashes, name="hashes"),
]
