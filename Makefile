# Fidèle — quick start: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FIDELE_DATA_DIR ?= $(CURDIR)/data
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run install test test-sqlite test-postgres lint messages bench clean

$(BIN)/fidele: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/fidele

run: install
	$(BIN)/fidele quickstart

test: install test-sqlite test-postgres

test-sqlite: install
	FIDELE_DATA_DIR=$(CURDIR)/data/test-sqlite DATABASE_URL= $(BIN)/pytest

test-postgres: install
	FIDELE_DATA_DIR=$(CURDIR)/data/test-postgres DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest

# ruff, then the layers of ARCHITECTURE.md (import-linter: a lower layer importing a higher one,
# or two apps importing each other, fails).
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

# Refresh each app's French catalogue from its sources (then translate the new entries), and
# compile them all; the .mo files are committed so that a fresh clone needs no gettext.
messages: install
	for dir in src/fidele/*/locale; do \
	  (cd $$(dirname $$dir) && DJANGO_SETTINGS_MODULE=fidele.config.settings \
	   $(CURDIR)/$(BIN)/django-admin makemessages -l fr --no-obsolete -v0); done
	for po in src/fidele/*/locale/fr/LC_MESSAGES/django.po; do msgfmt -o $${po%.po}.mo $$po; done

clean:
	rm -rf $(VENV) data
