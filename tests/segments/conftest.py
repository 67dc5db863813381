import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _in_english(settings):
    """These tests read the engine's and the pages' messages in English (the app's default
    is French; the French catalogue is checked by msgfmt)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
