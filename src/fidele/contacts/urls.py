from django.urls import path

from fidele.contacts import views

app_name = "contacts"

urlpatterns = [
    path("", views.contact_list, name="list"),
    path("new/", views.contact_create, name="create"),
    path("<int:pk>/edit/", views.contact_edit, name="edit"),
    path("<int:pk>/delete/", views.contact_delete, name="delete"),
    path("<int:pk>/tags/add/", views.contact_tag_add, name="tag_add"),
    path("<int:pk>/tags/<int:tag_pk>/remove/", views.contact_tag_remove, name="tag_remove"),
    path("<int:pk>/subscriptions/add/", views.contact_subscribe, name="subscribe"),
    path(
        "<int:pk>/subscriptions/<int:list_pk>/unsubscribe/",
        views.contact_unsubscribe,
        name="unsubscribe",
    ),
    path("tags/", views.tag_list, name="tags"),
    path("tags/new/", views.tag_create, name="tag_create"),
    path("tags/<int:pk>/edit/", views.tag_edit, name="tag_edit"),
    path("tags/<int:pk>/delete/", views.tag_delete, name="tag_delete"),
    path("lists/", views.list_list, name="lists"),
    path("lists/new/", views.list_create, name="list_create"),
    path("lists/<int:pk>/", views.list_detail, name="list_detail"),
    path("lists/<int:pk>/edit/", views.list_edit, name="list_edit"),
    path("lists/<int:pk>/delete/", views.list_delete, name="list_delete"),
]
