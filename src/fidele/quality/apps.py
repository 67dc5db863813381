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
        from fidele.core.tasks import recurring_job_register
        from fidele.quality.duplicates_tasks import duplicates_search_schedule

        # The duplicates page shows a search at most a day old (fidele.quality.duplicates).
        recurring_job_register("quality-duplicates", duplicates_search_schedule)
