from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QualityConfig(AppConfig):
    """The data-quality audit, its score and improvement plan, and the duplicate search.

    It reads contacts and commerce only (the layer contract in pyproject.toml); merging two
    contacts is a contacts service, which the import uses as well.
    """

    name = "fidele.quality"
    verbose_name = _("Data quality")
