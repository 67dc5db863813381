from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QualityConfig(AppConfig):
    """The data-quality audit, its score and improvement plan, and the duplicate search.

    It reads contacts and commerce only (the layer contract in pyproject.toml); merging two
    contacts is a contacts service, which the import uses as well.
    """

    name = "fidele.quality"
    verbose_name = _("Data quality")

    def ready(self) -> None:
        from fidele.contacts.selectors import ContactFilter, contact_filter_register
        from fidele.core.events import import_finished
        from fidele.core.tasks import recurring_job_register
        from fidele.quality.selectors import (
            FILTER_PARAM,
            contacts_with_finding,
            finding_filter_describe,
        )
        from fidele.quality.tasks import audit_after_import_queue, audit_nightly_schedule

        # The plan's links open the contacts list on exactly the contacts of a finding.
        contact_filter_register(
            ContactFilter(
                param=FILTER_PARAM,
                apply=contacts_with_finding,
                describe=finding_filter_describe,
            )
        )
        # After an import the duplicate search runs, then the audit counts its pairs: one task
        # (fidele.quality.tasks), so that the audit never reads the search before.
        import_finished.connect(audit_after_import_queue, dispatch_uid="fidele.quality.audit")
        recurring_job_register("quality-audit-nightly", audit_nightly_schedule)
