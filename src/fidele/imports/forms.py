from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from fidele.imports import exports
from fidele.imports.mapping import ATTR_PREFIX, IGNORE, attribute_key, fields_for
from fidele.imports.models import ImportJob
from fidele.imports.selectors import mailing_list_names


class UploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("What does the file hold?"),
        choices=[
            (ImportJob.Kind.CONTACTS, gettext_lazy("Contacts (customers, prospects)")),
            (ImportJob.Kind.ORDERS, gettext_lazy("Orders (purchases of known contacts)")),
        ],
        initial=ImportJob.Kind.CONTACTS,
        widget=forms.RadioSelect,
    )
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "CSV (comma, semicolon or tab separated, any encoding Excel produces) or Excel .xlsx."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is larger than %(size)s MB.") % {"size": limit // (1024 * 1024)}
            )
        return upload


class MappingForm(forms.Form):
    """One select per column of the file, then the options of the import."""

    list_name = forms.CharField(
        label=gettext_lazy("Subscribe to the list"),
        required=False,
        max_length=120,
        widget=forms.TextInput(attrs={"list": "list-names", "autocomplete": "off"}),
        help_text=gettext_lazy(
            "Optional. Rows whose consent column says yes are subscribed. Leave empty to import "
            "without subscribing anyone."
        ),
    )
    create_list = forms.BooleanField(
        label=gettext_lazy("Create this list: it does not exist yet"),
        required=False,
        help_text=gettext_lazy("Tick it only for a new list, so that a typo never makes one."),
    )
    update = forms.BooleanField(
        label=gettext_lazy("Update contacts that already exist with the file's values"),
        required=False,
        help_text=gettext_lazy(
            "Otherwise existing contacts are left as they are and counted as skipped."
        ),
    )
    consent_confirmed = forms.BooleanField(
        label=gettext_lazy(
            "I confirm that every person in this file agreed to receive emails from us"
        ),
        required=False,
        help_text=gettext_lazy(
            "Needed to subscribe a file without a consent column. Your name and the date are kept "
            "as the proof of consent."
        ),
    )

    def __init__(self, *args: Any, job: ImportJob, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.job = job
        self.header: list[str] = job.detected.get("header", [])
        proposed: list[str] = job.mapping.get("targets", [])
        fields = fields_for(job.kind)
        self.column_names: list[str] = []
        for index, name in enumerate(self.header):
            choices: list[tuple[str, str]] = [(IGNORE, _("— Do not import —"))]
            choices += [(key, str(label)) for key, label in fields.items()]
            current = proposed[index] if index < len(proposed) else IGNORE
            if job.kind == ImportJob.Kind.CONTACTS:
                attr = ATTR_PREFIX + (attribute_key(name) if name else f"column_{index + 1}")
                extra = {attr}
                if current.startswith(ATTR_PREFIX):
                    extra.add(current)
                for value in sorted(extra):
                    choices.append(
                        (
                            value,
                            _("Custom attribute “%(key)s”") % {"key": value[len(ATTR_PREFIX) :]},
                        )
                    )
            field_name = f"col_{index}"
            self.fields[field_name] = forms.ChoiceField(
                label=name or _("Column %(n)s") % {"n": index + 1},
                choices=choices,
                initial=current,
                required=False,
            )
            self.column_names.append(field_name)
        if job.kind != ImportJob.Kind.CONTACTS:
            del self.fields["list_name"]
            del self.fields["create_list"]
            del self.fields["consent_confirmed"]
            self.fields["update"].label = _("Replace orders that already exist with the file's")
            self.fields["update"].help_text = _(
                "Otherwise orders already imported are left as they are and counted as skipped."
            )

    def column_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.column_names]

    def targets(self) -> list[str]:
        return [self.cleaned_data.get(name) or IGNORE for name in self.column_names]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        targets = [data.get(name) or IGNORE for name in self.column_names]
        seen: dict[str, str] = {}
        for name, target in zip(self.column_names, targets, strict=True):
            if target and not target.startswith(ATTR_PREFIX):
                if target in seen:
                    self.add_error(
                        name,
                        _("“%(field)s” is already chosen for the column “%(other)s”.")
                        % {
                            "field": dict(self.fields[name].choices).get(target, target),
                            "other": self.fields[seen[target]].label,
                        },
                    )
                seen[target] = name
        if self.job.kind == ImportJob.Kind.CONTACTS:
            self._clean_list_name(data)
            if not {"email", "external_id", "first_name", "last_name"} & set(targets):
                raise forms.ValidationError(
                    _("Choose at least one column holding an email, a customer number or a name.")
                )
            if (
                data.get("list_name")
                and "consent" not in targets
                and not data.get("consent_confirmed")
            ):
                self.add_error(
                    "consent_confirmed",
                    _(
                        "This file has no consent column: confirm that you hold the consent of "
                        "every person, or leave the list empty."
                    ),
                )
        return data

    def _clean_list_name(self, data: dict[str, Any]) -> None:
        """An existing list is chosen by its name whatever its case; a name that is not a list's
        needs `create_list` ticked, so that a typo ("Newsleter") never makes a new list."""
        typed = " ".join((data.get("list_name") or "").split())
        if not typed:
            return
        names = mailing_list_names()
        by_lower = {name.lower(): name for name in names}
        if typed.lower() in by_lower:
            data["list_name"] = by_lower[typed.lower()]
            return
        data["list_name"] = typed
        if data.get("create_list"):
            return
        close = difflib.get_close_matches(typed.lower(), list(by_lower), n=1, cutoff=0.6)
        if close:
            message = _(
                "There is no list “%(typed)s”. Did you mean “%(name)s”? Choose it, or tick "
                "“Create this list” to make a new one."
            ) % {"typed": typed, "name": by_lower[close[0]]}
        else:
            message = _(
                "There is no list “%(typed)s” yet: tick “Create this list” to make it, or choose "
                "an existing list."
            ) % {"typed": typed}
        self.add_error("list_name", message)


@dataclass(frozen=True)
class ExportChoice:
    """A choice of the export page: the file type, how its cells are written, what it is for."""

    fmt: exports.Format
    dialect: exports.Dialect
    label: Any
    help: Any


EXPORT_CHOICES: dict[str, ExportChoice] = {
    "excel-fr": ExportChoice(
        "csv",
        exports.EXCEL_FR,
        gettext_lazy("Excel (France)"),
        gettext_lazy(
            "A CSV file that Excel opens in columns with a double click on a French computer: "
            "French headers, dates as 31/12/1980, phone numbers as 06 12 34 56 78. Fidèle "
            "imports it back as it is."
        ),
    ),
    "xlsx": ExportChoice(
        "xlsx",
        exports.SPREADSHEET,
        gettext_lazy("Excel workbook (XLSX)"),
        gettext_lazy(
            "For Excel, LibreOffice or Google Sheets, whatever their language: dates are dates "
            "and postal codes and phone numbers keep their leading zero. The best choice to edit "
            "the file before importing it again."
        ),
    ),
    "csv": ExportChoice(
        "csv",
        exports.CANONICAL,
        gettext_lazy("CSV (standard)"),
        gettext_lazy(
            "For another program or a script: comma-separated, the column names of the command "
            "line (first_name, birth_date…), dates as 1980-12-31, phone numbers as +33612345678 "
            "(written '+33612345678, with an apostrophe that keeps a spreadsheet from reading "
            "a formula; the import reads it back)."
        ),
    ),
}


def export_choice_default() -> str:
    # A French user's Excel splits a CSV on ";" and reads dd/mm/yyyy; elsewhere a workbook is
    # the file every spreadsheet opens right.
    return "excel-fr" if (get_language() or "").startswith("fr") else "xlsx"


class _DescribedRadioSelect(forms.RadioSelect):
    """Radios each described by the paragraph under it (id "<radio id>-help")."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        option["attrs"]["aria-describedby"] = f"{option['attrs']['id']}-help"
        return option


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        label=gettext_lazy("File format"),
        choices=[(key, choice.label) for key, choice in EXPORT_CHOICES.items()],
        widget=_DescribedRadioSelect,
    )

    def options(self) -> list[tuple[Any, Any]]:
        """(radio, what the choice is for), for the page to show each under its radio."""
        return [(radio, EXPORT_CHOICES[radio.data["value"]].help) for radio in self["format"]]

    def choice(self) -> ExportChoice:
        return EXPORT_CHOICES[self.cleaned_data["format"]]
