from django.urls import path

from fidele.tracking import site_views, views

app_name = "tracking"

# URL shapes agreed with the send engine, which builds them (keep them stable: links in emails
# already sent must keep working). The unsubscribe (u/) and preference (p/) pages under the same
# /t/ prefix are compliance's: compliance/link_urls.py.
urlpatterns = [
    path("o/<str:token>.gif", views.open_pixel, name="open"),
    path("c/<str:token>/", views.click, name="click"),
    path("h/<str:token>/", views.honeypot, name="honeypot"),
    # The web analytics snippet of the shop's own site, and the endpoint it sends to
    # (site_views.py): pasted into the site's pages, so these shapes must not change either.
    path("s.js", site_views.snippet, name="site_snippet"),
    path("e", site_views.hit, name="site_hit"),
]
