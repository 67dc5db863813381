from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackingConfig(AppConfig):
    name = "fidele.tracking"
    label = "tracking"
    verbose_name = _("Tracking")

    def ready(self) -> None:
        from fidele.core.tasks import recurring_job_register
        from fidele.tracking.tasks import site_upkeep_schedule

        recurring_job_register("tracking-site-upkeep", site_upkeep_schedule)
