from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "fidele.compliance"
    label = "compliance"
    verbose_name = _("Compliance")

    def ready(self) -> None:
        from fidele.compliance.merge import PARTICIPANT
        from fidele.contacts.merge import merge_participant_register

        # A merge keeps the suppressions that are about the person (fidele.compliance.merge).
        merge_participant_register(PARTICIPANT)

        from fidele.compliance.quality_port import SUPPRESSOR
        from fidele.quality.suppression import address_suppressor_register

        # The quality plan's "suppress disposable addresses" puts them on this app's list.
        address_suppressor_register(SUPPRESSOR)
