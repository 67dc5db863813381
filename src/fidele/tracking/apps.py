from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackingConfig(AppConfig):
    name = "fidele.tracking"
    label = "tracking"
    verbose_name = _("Tracking")

    def ready(self) -> None:
        from fidele.core.tasks import recurring_job_register
        from fidele.tracking.tasks import hits_drain_schedule, site_upkeep_schedule

        recurring_job_register("tracking-site-upkeep", site_upkeep_schedule)
        # Opens and clicks wait in a queue until the worker records them as events.
        recurring_job_register("tracking-hits-drain", hits_drain_schedule)
