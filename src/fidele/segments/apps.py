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
        from django.db.backends.signals import connection_created

        from fidele.contacts.merge import merge_participant_register
        from fidele.contacts.selectors import ContactFilter, contact_filter_register
        from fidele.core.tasks import recurring_job_register
        from fidele.segments import filters
        from fidele.segments.leaves import builtin_leaves_register
        from fidele.segments.merge import PARTICIPANT
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
        # A merge takes both contacts' RFM scores away (and its undo puts them back).
        merge_participant_register(PARTICIPANT)
