from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "fidele.analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from fidele.analytics.tasks import rollup_schedule
        from fidele.core.tasks import recurring_job_register

        recurring_job_register("analytics-rollup", rollup_schedule)

        from fidele.analytics.merge import PARTICIPANT
        from fidele.contacts.merge import merge_participant_register

        # Attributions follow their orders when two contacts are merged.
        merge_participant_register(PARTICIPANT)
