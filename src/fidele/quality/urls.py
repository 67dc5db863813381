from django.urls import path

from fidele.quality import duplicates_views, views

app_name = "quality"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("run/", views.run_now, name="run"),
    path("mx/", views.mx_check, name="mx_check"),
    path("orders/", views.order_outliers, name="order_outliers"),
    path("fix/typos/", views.fix_typos, name="fix_typos"),
    path("fix/disposable/", views.fix_disposable, name="fix_disposable"),
    path("fixes/<int:pk>/undo/", views.fix_undo, name="fix_undo"),
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
