from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    """Who the customers are and how to target them: typed segment rules compiled to one query,
    RFM scores and named RFM segments, personas found by clustering.

    It reads contacts, commerce and tracking; campaigns and the pages above it read segments.
    """

    name = "fidele.segments"
    verbose_name = _("Segments")

    def ready(self) -> None:
        self._insights_ready()

    def _insights_ready(self) -> None:
        """RFM and personas: the contacts list's `?rfm=CODE` and `?persona=ID`, and their
        refresh after each import and every night."""
        from fidele.contacts.selectors import ContactFilter, contact_filter_register
        from fidele.core.events import import_finished
        from fidele.core.tasks import recurring_job_register
        from fidele.segments.insight_selectors import (
            PERSONA_PARAM,
            RFM_PARAM,
            contacts_in_rfm_segment,
            contacts_of_persona,
            persona_filter_describe,
            rfm_filter_describe,
        )
        from fidele.segments.tasks import insights_after_import_queue, insights_nightly_schedule

        contact_filter_register(
            ContactFilter(
                param=RFM_PARAM, apply=contacts_in_rfm_segment, describe=rfm_filter_describe
            )
        )
        contact_filter_register(
            ContactFilter(
                param=PERSONA_PARAM, apply=contacts_of_persona, describe=persona_filter_describe
            )
        )
        import_finished.connect(
            insights_after_import_queue, dispatch_uid="fidele.segments.insights"
        )
        recurring_job_register("segments-insights-nightly", insights_nightly_schedule)
