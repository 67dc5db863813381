from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "fidele.delivery"
    label = "delivery"
    verbose_name = _("Delivery")

    def ready(self) -> None:
        from fidele.core.tasks import recurring_job_register
        from fidele.delivery.mailbox import bounces_poll_schedule

        recurring_job_register("bounces-poll", bounces_poll_schedule)
