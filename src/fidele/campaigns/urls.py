from django.urls import path

from fidele.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("check/", views.campaign_check, name="check"),
    path("layouts/", views.layout_list, name="layouts"),
    path("layouts/new/", views.layout_edit, name="layout_create"),
    path("layouts/<int:pk>/", views.layout_edit, name="layout_edit"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/preview/", views.campaign_preview, name="preview"),
    path("<int:pk>/contacts/", views.campaign_contact_search, name="contact_search"),
    path("<int:pk>/deliverability/", views.campaign_deliverability, name="deliverability"),
    path("<int:pk>/progress/", views.campaign_progress, name="progress"),
    path("<int:pk>/report/", views.campaign_report_page, name="report"),
    path("<int:pk>/follow-up/", views.campaign_follow_up, name="follow_up"),
    path("<int:pk>/report/download/", views.campaign_report_download, name="report_download"),
    path("<int:pk>/test/", views.campaign_test_send, name="test_send"),
    path("<int:pk>/schedule/", views.campaign_schedule, name="schedule"),
    path("<int:pk>/send/", views.campaign_send_confirm, name="send_confirm"),
    path("<int:pk>/<str:action>/", views.campaign_action, name="action"),
]
