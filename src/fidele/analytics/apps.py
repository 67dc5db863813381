from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "fidele.analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from fidele.analytics.tasks import rollup_schedule
        from fidele.core.tasks import recurring_job_register

        recurring_job_register("analytics-rollup", rollup_schedule)

        from fidele.analytics.dashboard_tasks import (
            daily_rollup_schedule,
            dashboard_after_import_queue,
            dashboard_nightly_schedule,
        )
        from fidele.core.events import import_finished

        # The dashboards read rollups: counted every hour, their monthly tables every night,
        # and both again after each import.
        recurring_job_register("analytics-daily-rollup", daily_rollup_schedule)
        recurring_job_register("analytics-dashboard-nightly", dashboard_nightly_schedule)
        import_finished.connect(
            dashboard_after_import_queue, dispatch_uid="fidele.analytics.dashboard"
        )

        from fidele.analytics.merge import PARTICIPANT
        from fidele.contacts.merge import merge_participant_register

        # Attributions follow their orders when two contacts are merged.
        merge_participant_register(PARTICIPANT)
