from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImportsConfig(AppConfig):
    name = "fidele.imports"
    label = "imports"
    verbose_name = _("Imports")

    def ready(self) -> None:
        from fidele.core.tasks import recurring_job_register, worker_startup_register
        from fidele.imports.runner import importjobs_recover
        from fidele.imports.tasks import imports_recover_schedule, uploads_retention_schedule

        # An import whose worker was killed is marked interrupted when a worker starts, and
        # within a minute while one runs (a worker elsewhere, a command-line import).
        worker_startup_register("imports-recover", importjobs_recover)
        recurring_job_register("imports-recover", imports_recover_schedule)
        recurring_job_register("imports-uploads-retention", uploads_retention_schedule)
