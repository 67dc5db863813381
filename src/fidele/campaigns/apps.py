from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "fidele.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # The links in emails (tracking, compliance) learn about sent messages through this port.
        from fidele.campaigns.message_lookup import CampaignMessageLookup
        from fidele.tracking.messages import message_lookup_register

        message_lookup_register(CampaignMessageLookup())
