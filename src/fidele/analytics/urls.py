from django.urls import path

from fidele.analytics import clv_views, dashboard_views, views

app_name = "analytics"

urlpatterns = [
    path("customer-value/", clv_views.customer_value, name="customer_value"),
    path(
        "customer-value/refresh/", clv_views.customer_value_refresh, name="customer_value_refresh"
    ),
    path("website/", views.website, name="website"),
    path("website/settings/", views.website_settings, name="website_settings"),
    path("website/settings/add/", views.website_site_add, name="website_site_add"),
    path("website/settings/<int:pk>/", views.website_site_edit, name="website_site_edit"),
    path("website/settings/<int:pk>/goals/", views.website_goal_add, name="website_goal_add"),
    path("website/goals/<int:pk>/delete/", views.website_goal_delete, name="website_goal_delete"),
    path("dynamics/", dashboard_views.dynamics, name="dynamics"),
    path("dynamics/costs/", dashboard_views.acquisition_costs, name="acquisition_costs"),
    path(
        "dynamics/costs/<int:pk>/delete/",
        dashboard_views.acquisition_cost_remove,
        name="acquisition_cost_delete",
    ),
]
