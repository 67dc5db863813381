from django.urls import path

from fidele.quality import duplicates_views

app_name = "quality"

urlpatterns: list = [
    path("duplicates/", duplicates_views.duplicates_list, name="duplicates"),
    path("duplicates/search/", duplicates_views.duplicates_search, name="duplicates_search"),
    path("duplicates/bulk/", duplicates_views.duplicates_bulk, name="duplicates_bulk"),
    path("duplicates/<int:a>/<int:b>/", duplicates_views.duplicate_merge, name="duplicate_merge"),
    path(
        "duplicates/<int:a>/<int:b>/dismiss/",
        duplicates_views.duplicate_dismiss,
        name="duplicate_dismiss",
    ),
    path("merges/<int:pk>/undo/", duplicates_views.merge_undo, name="merge_undo"),
]
