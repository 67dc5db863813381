from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "fidele.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from fidele.campaigns.tasks import sending_watchdog_schedule
        from fidele.core.tasks import recurring_job_register

        # A campaign whose worker was killed goes on once a worker is up.
        recurring_job_register("sending-watchdog", sending_watchdog_schedule)

        # The links in emails (tracking, compliance) learn about sent messages through this port.
        from fidele.campaigns.message_lookup import CampaignMessageLookup
        from fidele.tracking.messages import message_lookup_register

        message_lookup_register(CampaignMessageLookup())
