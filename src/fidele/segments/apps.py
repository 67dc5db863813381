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
        self._rules_ready()
        self._insights_ready()
        from fidele.contacts.merge import merge_participant_register
        from fidele.segments.merge import PARTICIPANT

        # A merge takes both contacts' RFM scores and personas away (its undo puts them back).
        merge_participant_register(PARTICIPANT)

    def _rules_ready(self) -> None:
        """The rule engine: its leaves, SQLite's readers of custom attributes, the contacts
        list's `?segment=ID` and `?rules=JSON`, and each saved segment's daily size."""
        from django.db.backends.signals import connection_created

        from fidele.contacts.selectors import ContactFilter, contact_filter_register
        from fidele.core.tasks import recurring_job_register
        from fidele.segments import filters
        from fidele.segments.leaves import builtin_leaves_register
        from fidele.segments.sql import sqlite_functions_register
        from fidele.segments.tasks import segment_sizes_schedule

        builtin_leaves_register()
        connection_created.connect(
            sqlite_functions_register, dispatch_uid="fidele.segments.sqlite_functions"
        )
        # The contacts list, its export and the export command select a segment's contacts with
        # the one engine: `?segment=ID` (a saved segment) and `?rules=JSON` (a rule as typed).
        contact_filter_register(
            ContactFilter(
                param=filters.SEGMENT_PARAM,
                apply=filters.contacts_in_segment,
                describe=filters.segment_filter_describe,
            )
        )
        contact_filter_register(
            ContactFilter(
                param=filters.RULES_PARAM,
                apply=filters.contacts_matching_rules,
                describe=filters.rules_filter_describe,
                max_length=filters.RULES_MAX_LENGTH,
            )
        )
        recurring_job_register("segments-sizes-daily", segment_sizes_schedule)

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
