from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UiConfig(AppConfig):
    """The small screen library every app may use: pagination, formats, query parameters and
    the template filters built on them. It knows no domain."""

    name = "fidele.ui"
    label = "ui"
    verbose_name = _("Screens")
