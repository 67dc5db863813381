"""Every French catalogue is complete, free of fuzzy guesses, and compiled from its .po."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import fidele

CATALOGUES = sorted(Path(fidele.__file__).parent.glob("*/locale/fr/LC_MESSAGES/django.po"))
# An empty msgstr not continued on the next line (long translations start with "" then go on).
EMPTY_TRANSLATION = re.compile(r'^msgstr(?:\[\d\])? ""(?:\n(?!")|\Z)', re.MULTILINE)


def entries(po: Path) -> list[str]:
    # The first entry is the header, whose msgid is empty by design.
    return po.read_text(encoding="utf-8").split("\n\n")[1:]


def test_there_is_a_french_catalogue_per_app_with_strings():
    assert len(CATALOGUES) >= 8


def test_an_empty_translation_is_noticed():
    assert EMPTY_TRANSLATION.search('msgid "Hello"\nmsgstr ""')
    assert EMPTY_TRANSLATION.search('msgid "A"\nmsgid_plural "As"\nmsgstr[0] "Un"\nmsgstr[1] ""')
    assert not EMPTY_TRANSLATION.search('msgid "Hello"\nmsgstr ""\n"Bonjour"')


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parts[-5])
def test_every_string_is_translated_and_none_is_fuzzy(po):
    untranslated = [
        e for e in entries(po) if EMPTY_TRANSLATION.search(e.strip()) and not e.startswith("#~")
    ]
    fuzzy = [e for e in entries(po) if "#, fuzzy" in e]
    assert untranslated == [], f"{po}: untranslated entries"
    assert fuzzy == [], f"{po}: fuzzy entries"
    assert "Plural-Forms: nplurals=2; plural=(n > 1);" in po.read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parts[-5])
def test_the_compiled_catalogue_matches_its_source(po, tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "-o", str(compiled), str(po)], check=True)
    assert compiled.read_bytes() == po.with_suffix(".mo").read_bytes(), (
        f"{po.with_suffix('.mo')} is stale: run `make messages`"
    )


@pytest.mark.django_db
def test_the_models_and_the_migrations_agree():
    """A model change without its migration (or a migration that no longer says what the model
    does, e.g. a folding table edited in one place only) fails here, not in production."""
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
