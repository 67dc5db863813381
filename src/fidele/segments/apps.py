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
        from fidele.contacts.merge import merge_participant_register
        from fidele.segments.merge import PARTICIPANT

        merge_participant_register(PARTICIPANT)
