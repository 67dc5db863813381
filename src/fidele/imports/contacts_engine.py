"""The contact import: rows -> normalised records -> merged per identity -> batched upserts.

Identity is the normalised email, else the customer number (external_id), else - for a customer
who has neither - first name, last name, phone and postal code together, so that re-importing the
same file creates nothing new even for those.

What happens to a row, and how it is counted (rows = created + updated + merged + skipped +
rejected):
- created   a new contact;
- merged    a row folded into a contact already met in this file (created by an earlier row, or
            updated by one): its non-empty values fill the contact's blanks; also a row that
            brings a second customer number to a known email (one person with two numbers of
            an old till system): the contact keeps its number and gains the row's as an alias
            (CustomerNumberAlias), and the row is listed as a merge to review;
- updated   with `update`, an existing contact whose stored values the row changed (non-empty
            values of the file overwrite);
- skipped   an existing contact left as it was (the default), or one the row would not change;
- rejected  not imported; written with its reason to the rejected-rows CSV.
List subscriptions are added for every row that is kept (skipped ones included: the user asked
for these people to be on the list), never changing an existing subscription - someone who
unsubscribed stays unsubscribed.

Each batch is one transaction: an import stopped half-way (a broken file, a crash) keeps the
batches before it, and importing the file again completes it without duplicating anything.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from fidele.contacts.bulk_load import (
    contacts_empty,
    search_indexes_build,
    search_indexes_set_aside,
)
from fidele.contacts.consent import ConsentProof, Method, subscriptions_add_with_proof
from fidele.contacts.fields import IMPORTABLE_FIELDS
from fidele.contacts.merge import merged_values
from fidele.contacts.models import (
    AttributeLabel,
    Contact,
    CustomerNumberAlias,
    MailingList,
    Tag,
)
from fidele.contacts.normalize import normalise_email, normalise_phone, phone_country
from fidele.contacts.selectors import customer_number_alias_owners
from fidele.core.actors import System
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.imports import normalize as norm
from fidele.imports import sql
from fidele.imports.cells import cells_without_refused
from fidele.imports.mapping import ATTR_PREFIX, attribute_key, header_key
from fidele.imports.pipeline import (
    BATCH_ROWS,
    MAX_CELL_CHARS,
    BatchWriter,
    Counters,
    IdSet,
    ImportOptions,
    RejectWriter,
    WarningWriter,
    cell_cut,
    cell_too_long,
    overlap_writes,
)
from fidele.imports.reader import ImportFileError
from fidele.ui.texts import Text

# Stored columns an import may write, in the order used by the bulk insert.
FIELDS = (
    "email",
    "external_id",
    "civility",
    "first_name",
    "last_name",
    "phone",
    "phone_invalid",
    "address",
    "postal_code",
    "city",
    "country",
    "language",
    "birth_date",
    "joined_on",
    "source",
    "notes",
)
_TEXT_FIELDS = ("first_name", "last_name", "address", "city", "source")
# What recognises a contact: a cell too long for them rejects the row (it cannot be matched);
# any other too-long cell is cut, with a warning.
_KEY_FIELDS = ("email", "external_id")
# Columns read into a code ("Madame" -> "Mme", "Belgique" -> "BE"), left empty with a warning
# when the value is unknown.
_CODED = {
    "civility": norm.normalise_civility,
    "country": norm.normalise_country,
    "language": norm.normalise_language,
}
_IDENTITY_FIELDS = {"email", "external_id", "first_name", "last_name"}
_COPY_COLUMNS = (*FIELDS, "attributes", "status", "created_at", "updated_at")
# One encoder for every row: json.dumps(..., ensure_ascii=False) builds a new one per call, which
# cost more than the encoding of a contact's few custom fields.
_attributes_json = json.JSONEncoder(ensure_ascii=False).encode
# Batch key prefix of a record that brings a second customer number to an email met earlier in
# the file (see ContactImport._add).
SECOND_NUMBER = "2:"


def _max_lengths() -> dict[str, int]:
    lengths = {}
    for name in FIELDS:
        max_length = getattr(Contact._meta.get_field(name), "max_length", None)
        if max_length:
            lengths[name] = max_length
    return lengths


class Record:
    """One person as read from one or more rows of the file."""

    __slots__ = (
        "values",
        "attrs",
        "tags",
        "other_numbers",
        "consent",
        "consent_date",
        "consent_row",
        "rows",
    )

    def __init__(self, number: int, cells: list[str]):
        self.values: dict[str, Any] = {}
        self.attrs: dict[str, str] = {}
        self.tags: list[str] = []
        # Customer numbers the file gives as this person's other ones (an export's column).
        self.other_numbers: list[str] = []
        self.consent: bool | None = None
        self.consent_date: dt.date | None = None
        self.consent_row = number
        self.rows: list[tuple[int, list[str]]] = [(number, cells)]

    @property
    def email(self) -> str | None:
        return self.values.get("email")

    @property
    def external_id(self) -> str | None:
        return self.values.get("external_id")

    def name_key(self) -> str:
        v = self.values
        return "|".join(
            (
                header_key(v.get("first_name", "")),
                header_key(v.get("last_name", "")),
                v.get("phone", ""),
                v.get("postal_code", ""),
            )
        )

    def fold(self, other: Record) -> None:
        """The same person met again in the file: both rows' values kept as merging the two
        contacts would keep them (the first row's, unless empty; the address as one block; a
        name better written; notes joined), custom fields and tags added."""
        self.values = merged_values(self.values, other.values)
        for key, value in other.attrs.items():
            self.attrs.setdefault(key, value)
        for tag in other.tags:
            if tag not in self.tags:
                self.tags.append(tag)
        for number in other.other_numbers:
            if number not in self.other_numbers:
                self.other_numbers.append(number)
        if self.consent is None and other.consent is not None:
            self.consent, self.consent_row = other.consent, other.consent_row
        if self.consent_date is None:
            self.consent_date = other.consent_date
        self.rows.extend(other.rows)


class ContactImport:
    def __init__(
        self,
        *,
        options: ImportOptions,
        header: list[str],
        rejects: RejectWriter,
        warnings: WarningWriter | None = None,
    ):
        self.options = options
        self.rejects = rejects
        self.counters = Counters(warnings_file=warnings)
        self.region = settings.DEFAULT_REGION
        self.tz = timezone.get_current_timezone()
        self.max_lengths = _max_lengths()
        self.plan = [
            (index, target, header[index] if index < len(header) else f"#{index + 1}")
            for index, target in enumerate(options.mapping)
            if target
        ]
        targets = {target for _i, target, _c in self.plan}
        self._attribute_labels_keep()
        # Values whose length the file decides (the others are normalised to short codes).
        self.limited = [
            (target, self.max_lengths[target], column, index)
            for index, target, column in self.plan
            if target in ("email", "external_id", "postal_code", *_TEXT_FIELDS)
            and target in self.max_lengths
        ]
        self.limited_targets = {target for target, *_rest in self.limited}
        if not targets & _IDENTITY_FIELDS:
            # A Text: the summary says it in the language of whoever reads it (ui.texts).
            raise ImportFileError(
                Text(
                    gettext_noop(
                        "No column holds an email, a customer number or a name, so no contact can "
                        "be recognised. Columns found: %(columns)s. Choose what each column holds "
                        'in the preview (or with --map "Column=email").'
                    ),
                    columns=", ".join(h for h in header if h) or "-",
                )
            )
        self.has_consent_column = "consent" in targets
        self.other_numbers_column = next(
            (column for _i, target, column in self.plan if target == "other_customer_numbers"), ""
        )
        self.mailing_list: MailingList | None = None
        if options.list_name:
            if not self.has_consent_column and not options.consent_confirmed:
                raise ImportFileError(
                    Text(
                        gettext_noop(
                            "This file has no consent column (Newsletter, Opt-in...). To "
                            "subscribe every row to the list “%(list)s”, confirm that you hold "
                            "their consent (--consent-confirmed, or the box in the import form)."
                        ),
                        list=options.list_name,
                    )
                )
        elif self.has_consent_column:
            self.counters.warn(
                0,
                "",
                Text(gettext_noop("The consent column was not used because no list was chosen.")),
            )
        self.default_country = Contact._meta.get_field("country").get_default() or ""
        self.default_language = Contact._meta.get_field("language").get_default() or ""
        self.created = IdSet()
        self.tag_ids: dict[str, int] = {
            name.lower(): pk for pk, name in Tag.objects.values_list("id", "name")
        }
        self.imported_at = timezone.now()
        self.proof: ConsentProof | None = None
        self.is_pg = sql.is_postgresql()
        self.sequence: str | None = None
        self.lock = threading.Lock()
        # Most bases have no other customer numbers: then no batch looks any up (a look-up of
        # 5,000 numbers costs as much as a tenth of the batch's own work).
        self.aliases_exist = CustomerNumberAlias.objects.exists()

    def _attribute_labels_keep(self) -> None:
        """Keep how the file heads its custom columns ("Vin préféré"), the first time a key is
        met, when the header reads back as that key."""
        labels = [
            AttributeLabel(key=target[len(ATTR_PREFIX) :], label=column.strip()[:200])
            for _i, target, column in self.plan
            if target.startswith(ATTR_PREFIX)
            and not column.strip().lower().startswith(ATTR_PREFIX)
            and attribute_key(column) == target[len(ATTR_PREFIX) :]
        ]
        if labels:
            AttributeLabel.objects.bulk_create(labels, ignore_conflicts=True)

    # -- reading ---------------------------------------------------------------------------

    def reject(self, number: int, cells: list[str], reason: str) -> None:
        # Both the reading thread and the writing thread reject rows.
        with self.lock:
            self.counters.rejected += 1
            self.rejects.write(number, cells, reason)

    def read_row(self, number: int, cells: list[str]) -> Record | None:
        cells = cells_without_refused(number, cells, self.rejects.header, self.counters.warn)
        record = Record(number, cells)
        values = record.values
        warn = self.counters.warn
        width = len(cells)
        for index, target, column in self.plan:
            if index >= width:
                continue
            raw = original = cells[index]
            if not raw:
                continue
            if len(raw) > MAX_CELL_CHARS:
                if target in _KEY_FIELDS:
                    # No email or customer number is that long: the row cannot be matched.
                    self.reject(number, cells, cell_too_long(column, len(raw)))
                    return None
                # A long comment costs its end, not the customer. A field with a shorter limit
                # warns once, below, when it is cut to that limit.
                if target not in self.limited_targets:
                    warn(number, column, cell_cut(len(raw), MAX_CELL_CHARS), original)
                raw = raw[:MAX_CELL_CHARS]
            raw = raw.strip()
            if not raw:
                continue
            if target == "email":
                email, problem = normalise_email(raw)
                if problem:
                    self.reject(
                        number,
                        cells,
                        _("%(column)s: %(message)s") % {"column": column, "message": problem},
                    )
                    return None
                values["email"] = email
            elif target in _TEXT_FIELDS:
                values.setdefault(target, " ".join(raw.split()))
            elif target == "phone":
                if "phone" in values:
                    continue
                phone, problem = normalise_phone(raw, self.region)
                if problem:
                    values.setdefault("phone_invalid", raw[:64])
                    self.counters.invalid_phones += 1
                    warn(number, column, problem, original)
                else:
                    values["phone"] = phone
            elif target == "external_id":
                values["external_id"] = " ".join(raw.split())
            elif target in ("birth_date", "joined_on"):
                value, problem = norm.normalise_date(raw)
                if problem:
                    warn(number, column, problem, original)
                elif value is not None:
                    values[target] = value
            elif target == "postal_code":
                values["postal_code"] = raw
            elif target == "consent":
                consent, problem = norm.normalise_bool(raw)
                if problem:
                    # "Opt-in: 12/03/2021" - a date in the consent column says yes, and when.
                    when, not_a_date = norm.normalise_date(raw)
                    if when is not None and not not_a_date:
                        consent, record.consent_date = True, record.consent_date or when
                    else:
                        warn(
                            number,
                            column,
                            Text(gettext_noop("%(problem)s - not subscribed"), problem=problem),
                            original,
                        )
                record.consent = consent
            elif target == "consent_date":
                value, problem = norm.normalise_date(raw.split(" ")[0].split("T")[0])
                if problem:
                    warn(number, column, problem, original)
                else:
                    record.consent_date = value
            elif target in _CODED:
                value, problem = _CODED[target](raw)
                if problem:
                    warn(number, column, problem, original)
                elif value:
                    values[target] = value
            elif target == "tags":
                for tag in norm.normalise_tags(raw):
                    if tag not in record.tags:
                        record.tags.append(tag)
            elif target == "notes":
                values["notes"] = raw
            elif target == "other_customer_numbers":
                self._read_other_numbers(record, number, raw, column)
            elif target.startswith(ATTR_PREFIX):
                record.attrs.setdefault(target[len(ATTR_PREFIX) :], raw)
        if "postal_code" in values:
            values["postal_code"] = norm.normalise_postal_code(
                values["postal_code"], self._country_of(values)
            )
        for name, limit, column, index in self.limited:
            value = values.get(name)
            if value is not None and len(value) > limit:
                if name in _KEY_FIELDS:
                    self.reject(
                        number,
                        cells,
                        _("%(column)s: “%(value)s…” is longer than %(limit)s characters")
                        % {"column": column, "value": value[:30], "limit": limit},
                    )
                    return None
                # The size the file's cell had, which the cut above may have hidden.
                original = cells[index] if index < len(cells) else value
                size = max(len(value), len(original))
                warn(number, column, cell_cut(size, limit), original)
                values[name] = value[:limit]
        if not (values.keys() & _IDENTITY_FIELDS):
            self.reject(number, cells, _("no email, customer number or name"))
            return None
        return record

    def _read_other_numbers(self, record: Record, row: int, raw: str, column: str) -> None:
        limit = self.max_lengths["external_id"]
        for part in norm.split_list(raw):
            alias = " ".join(part.split())
            if len(alias) > limit:
                self.counters.warn(
                    row,
                    column,
                    Text(
                        gettext_noop("“%(value)s…” is longer than %(limit)s characters: not kept"),
                        value=alias[:30],
                        limit=limit,
                    ),
                    raw,
                )
            elif alias not in record.other_numbers:
                record.other_numbers.append(alias)

    # -- the whole file --------------------------------------------------------------------

    def run(self, rows: Iterator[tuple[int, list[str]]]) -> Counters:
        batch: dict[str, Record] = {}
        owners: dict[str, str] = {}  # customer number -> key of its record in the batch
        pending = 0
        writes = _Writes(self)
        writer = BatchWriter(writes, finish=writes.end) if overlap_writes() else None
        submit = writer.submit if writer else writes
        progress = self.options.progress
        keep = False
        try:
            try:
                for number, cells in rows:
                    self.counters.rows += 1
                    record = self.read_row(number, cells)
                    if record is not None:
                        self._add(batch, owners, record)
                        pending += 1
                    if pending >= BATCH_ROWS:
                        submit(batch)
                        batch, owners, pending = {}, {}, 0
                        # A first import's transaction hides the progress the writes report:
                        # PostgreSQL shows it from this thread's own connection (SQLite's one
                        # writer is busy with that transaction until its end).
                        if progress and self.is_pg and self.counters.all_or_nothing:
                            progress(self.counters.rows)
            except ImportFileError:
                # A broken line further down: the rows read before it are valid and are
                # saved, and the summary says where the reading stopped.
                if batch:
                    submit(batch)
                keep = True
                raise
            if batch:
                submit(batch)
            keep = True
        finally:
            if writer is not None:
                writer.close(raise_error=keep, keep=keep)
            else:
                writes.end(keep)
            if writes.first_load:
                # After the commit: the rows are there, searchable once these are built.
                started = time.perf_counter()
                search_indexes_build()
                self.counters.search_indexes_seconds = round(time.perf_counter() - started, 3)
        if progress:
            progress(self.counters.rows)
        return self.counters

    def _add(self, batch: dict[str, Record], owners: dict[str, str], record: Record) -> None:
        email, ext = record.email, record.external_id
        key = "e:" + email if email else ("x:" + ext if ext else "n:" + record.name_key())
        target = batch.get(key)
        if ext and ext in owners and owners[ext] != key:
            other_key = owners[ext]
            other = batch[other_key]
            if not email or other.email == email:
                target, key = other, other_key
            elif not other.email and target is None:
                # An earlier row had only this customer number; this one brings the email.
                del batch[other_key]
                batch[key] = other
                owners[ext] = key
                target = other
            else:
                number, cells = record.rows[0]
                self.reject(
                    number,
                    cells,
                    _(
                        "conflict: customer number %(ext)s is already used in row %(row)s "
                        "for another email (%(email)s)"
                    )
                    % {"ext": ext, "row": other.rows[0][0], "email": other.email or "-"},
                )
                return
        if target is None:
            batch[key] = record
            if ext:
                owners[ext] = key
            return
        if ext and target.external_id and target.external_id != ext:
            # The same email under a second customer number: one person with two cards of an
            # old till system. The record waits for the second pass of the batch, where it meets
            # the contact made of the first number as a stored one and brings it an alias (with
            # every check a stored contact gets: the number may belong to someone else).
            key = f"{SECOND_NUMBER}{email}|{ext}"
            target = batch.get(key)
            if target is None:
                batch[key] = record
                owners[ext] = key
                return
        target.fold(record)
        if ext and not target.external_id:
            owners[ext] = key

    # -- writing one batch -----------------------------------------------------------------

    def _alias_owners(self, numbers: list[str]) -> dict[str, int]:
        if not numbers or not self.aliases_exist:
            return {}
        return customer_number_alias_owners(numbers)

    def _fetch_existing(self, records: list[Record]) -> tuple[dict, dict, dict]:
        emails = [r.email for r in records if r.email]
        exts = [r.external_id for r in records if r.external_id]
        exts += [number for r in records for number in r.other_numbers]
        columns = ("id", *FIELDS, "attributes")
        rows: list[dict[str, Any]] = []
        if emails or exts:
            for values in sql.existing_contacts(
                table=Contact._meta.db_table, columns=columns, emails=emails, external_ids=exts
            ):
                row = dict(zip(columns, values, strict=True))
                # Raw rows hold the custom fields as JSON text (SQLite; PostgreSQL's driver
                # may already have decoded them).
                if isinstance(row["attributes"], str):
                    row["attributes"] = json.loads(row["attributes"])
                rows.append(row)
        # A customer number may be a stored contact's other number (CustomerNumberAlias).
        aliases = self._alias_owners(exts)
        missing = set(aliases.values()).difference(row["id"] for row in rows)
        if missing:
            rows.extend(Contact.objects.filter(id__in=missing).values(*columns))
        by_email = {row["email"]: row for row in rows if row["email"]}
        by_ext = {row["external_id"]: row for row in rows if row["external_id"]}
        if aliases:
            by_id = {row["id"]: row for row in rows}
            for number, contact_id in aliases.items():
                by_ext.setdefault(number, by_id[contact_id])
        by_name: dict[str, dict] = {}
        nameless = [r for r in records if not r.email and not r.external_id]
        if nameless:
            last_names = {r.values.get("last_name", "") for r in nameless}
            for row in Contact.objects.filter(
                email__isnull=True, external_id__isnull=True, last_name__in=last_names
            ).values(*columns):
                key = "|".join(
                    (
                        header_key(row["first_name"]),
                        header_key(row["last_name"]),
                        row["phone"],
                        row["postal_code"],
                    )
                )
                by_name.setdefault(key, row)
        return by_email, by_ext, by_name

    def _reject_record(self, record: Record, reason: str) -> None:
        for number, cells in record.rows:
            self.reject(number, cells, reason)

    def flush(self, batch: dict[str, Record]) -> None:
        first = [r for key, r in batch.items() if not key.startswith(SECOND_NUMBER)]
        second = [r for key, r in batch.items() if key.startswith(SECOND_NUMBER)]
        with transaction.atomic():
            self._flush(first)
            if second:
                self._flush(second)
        if self.options.progress and not self.counters.all_or_nothing:
            # After the commit: the heartbeat's counts are what is saved.
            self.options.progress(self.counters.rows)

    def _flush(self, records: list[Record]) -> None:
        kept: list[tuple[int, Record]] = []  # (contact id, record) for subscriptions
        tagged: list[tuple[int, Record]] = []  # (contact id, record) whose tags are added
        aliases: list[tuple[int, str]] = []  # (contact id, its other customer number)
        if self.is_pg:
            records = self._insert_optimistically(records, kept, tagged)
        if records:
            self._resolve(records, kept, tagged, aliases)
        if aliases:
            self.aliases_exist = True
            CustomerNumberAlias.objects.bulk_create(
                [CustomerNumberAlias(contact_id=c, number=number) for c, number in aliases],
                ignore_conflicts=True,
            )
            # Each contact's history says where its other number came from (a merge to review).
            actor = self.options.actor or System(name=self.options.actor_name or "import")
            for contact_id, number in aliases:
                audit_record(
                    actor=actor,
                    action=AuditLog.Action.UPDATE,
                    object_type="contacts.contact",
                    object_id=contact_id,
                    changes={
                        "other_customer_number": [None, number],
                        "import_id": self.options.job_id,
                    },
                )
        self._tag(tagged)
        self._subscribe(kept)

    def _count_created(self, contact_id: int, record: Record, kept: list, tagged: list) -> None:
        self.created.add(contact_id)
        self.counters.created += 1
        self.counters.merged += len(record.rows) - 1
        kept.append((contact_id, record))
        tagged.append((contact_id, record))

    def _insert_optimistically(
        self, records: list[Record], kept: list, tagged: list
    ) -> list[Record]:
        """PostgreSQL: insert every record with an email or customer number straight away;
        return the others (a collision with a stored contact, or no key to collide on) for
        `_resolve`. On a first import that is next to none, and no look-up is made."""
        # A number that is a stored contact's other number must meet that contact in `_resolve`.
        aliased = self._alias_owners([r.external_id for r in records if r.external_id])

        def optimistic(record: Record) -> bool:
            # Other numbers are checked against the stored ones in `_resolve`.
            return bool(
                (record.email or record.external_id)
                and record.external_id not in aliased
                and not record.other_numbers
            )

        keyed = [r for r in records if optimistic(r)]
        rest = [r for r in records if not optimistic(r)]
        if not keyed:
            return rest
        if self.sequence is None:
            self.sequence = sql.sequence_name(Contact._meta.db_table)
        inserted = sql.copy_insert_new(
            table=Contact._meta.db_table,
            sequence=self.sequence,
            columns=_COPY_COLUMNS,
            rows=self._copy_rows(list(enumerate(keyed))),
        )
        for position, record in enumerate(keyed):
            contact_id = inserted.get(position)
            if contact_id is None:
                rest.append(record)
            else:
                self._count_created(contact_id, record, kept, tagged)
        return rest

    def _resolve(self, records: list[Record], kept: list, tagged: list, aliases: list) -> None:
        """Match records against stored contacts, then merge, update, skip, reject or create."""
        counters = self.counters
        by_email, by_ext, by_name = self._fetch_existing(records)
        new: list[Record] = []
        updates: list[tuple[dict, set[str]]] = []
        # The numbers this batch gives as a contact's own: none of them may become an alias.
        own_numbers = {r.external_id for r in records if r.external_id}
        for record in records:
            email, ext = record.email, record.external_id
            by_mail = by_email.get(email) if email else None
            by_number = by_ext.get(ext) if ext else None
            if by_mail and by_number and by_mail["id"] != by_number["id"]:
                self._reject_record(
                    record,
                    _("conflict: %(email)s belongs to %(a)s but customer number %(ext)s to %(b)s")
                    % {
                        "email": email,
                        "a": _named(by_mail, "external_id"),
                        "ext": ext,
                        "b": _named(by_number, "email"),
                    },
                )
                continue
            new_alias = bool(
                by_mail
                and ext
                and by_number is None
                and by_mail["external_id"]
                and by_mail["external_id"] != ext
            )
            if new_alias or (by_number and by_number["external_id"] != ext):
                # The row's number is (or becomes) this contact's other number: the contact
                # keeps the number it has.
                del record.values["external_id"]
            if by_number and not by_mail and email and by_number["email"]:
                self._reject_record(
                    record,
                    _(
                        "conflict: customer number %(ext)s is stored with the email "
                        "%(other)s, the file says %(email)s"
                    )
                    % {"ext": ext, "other": by_number["email"], "email": email},
                )
                continue
            target = by_mail or by_number
            if target is None and not email and not ext:
                target = by_name.get(record.name_key())
            if target is None:
                new.append(record)
                continue
            if record.other_numbers:
                self._add_other_numbers(target, record, by_ext, own_numbers, aliases)
            rows = len(record.rows)
            if new_alias:
                # One person under two customer numbers: merged, and listed for a person to
                # check (two people sharing one mailbox would look the same).
                aliases.append((target["id"], ext))
                by_ext[ext] = target
                counters.merged += rows
                counters.merge_to_review(
                    row=record.rows[0][0],
                    email=email,
                    number=target["external_id"],
                    other_number=ext,
                    contact_id=target["id"],
                )
                created = target["id"] in self.created
                overwrite = self.options.update and not created
                changed = self._apply(target, record, overwrite=overwrite, fold=created)
                if changed:
                    updates.append((target, changed))
                if not overwrite:
                    self._warn_not_kept(target, record)
                tagged.append((target["id"], record))
            elif target["id"] in self.created:
                changed = self._apply(target, record, overwrite=False, fold=True)
                if changed:
                    updates.append((target, changed))
                self._warn_not_kept(target, record)
                counters.merged += rows
                tagged.append((target["id"], record))
            elif self.options.update:
                changed = self._apply(target, record, overwrite=True)
                if changed:
                    updates.append((target, changed))
                    counters.updated += 1
                    counters.merged += rows - 1
                else:
                    counters.skipped += rows
                tagged.append((target["id"], record))
            else:
                counters.skipped += rows
            kept.append((target["id"], record))

        if new:
            ids = sql.allocate_ids(Contact._meta.db_table, len(new))
            inserted = self._insert(list(zip(ids, new, strict=True)))
            for contact_id, record in zip(ids, new, strict=True):
                if contact_id not in inserted:
                    self._reject_record(
                        record,
                        _(
                            "someone saved a contact with this email or customer number "
                            "during the import: import the file again to update it"
                        ),
                    )
                    continue
                self._count_created(contact_id, record, kept, tagged)
                if record.other_numbers:
                    target = {"id": contact_id, "external_id": record.external_id}
                    self._add_other_numbers(target, record, by_ext, own_numbers, aliases)
        if updates:
            self._update(updates)

    def _add_other_numbers(
        self,
        target: dict,
        record: Record,
        by_ext: dict[str, dict],
        own_numbers: set[str],
        aliases: list[tuple[int, str]],
    ) -> None:
        """Keep the record's other customer numbers as the contact's aliases, except a number
        that is another contact's (stored, or given as its own by this batch): warned, left."""
        for number in record.other_numbers:
            if number == target["external_id"]:
                continue
            owner = by_ext.get(number)
            if owner is not None and owner["id"] == target["id"]:
                continue
            if owner is not None or number in own_numbers:
                self.counters.warn(
                    record.rows[0][0],
                    self.other_numbers_column,
                    Text(
                        gettext_noop(
                            "customer number %(number)s belongs to another contact: not added"
                        ),
                        number=number,
                    ),
                    number,
                )
                continue
            aliases.append((target["id"], number))
            by_ext[number] = target

    def _apply(
        self, target: dict, record: Record, *, overwrite: bool, fold: bool = False
    ) -> set[str]:
        """Write the record's values into a stored contact's (`target`); the fields changed.

        overwrite: the file's values win (an update); fold: a contact this import created, met
        again, keeps what merging the two would keep (Record.fold); else the record only fills
        the contact's blanks (a contact stored before, without `update`)."""
        changed: set[str] = set()
        if fold:
            merged = merged_values(target, record.values)
            for name, value in merged.items():
                if value != target.get(name):
                    target[name] = value
                    changed.add(name)
            values: dict[str, Any] = {}
        else:
            values = record.values
        for name, value in values.items():
            current = target.get(name)
            if overwrite:
                if value != current:
                    target[name] = value
                    changed.add(name)
            elif current in (None, ""):
                target[name] = value
                changed.add(name)
        if record.attrs:
            attributes = dict(target.get("attributes") or {})
            for key, value in record.attrs.items():
                if (overwrite and attributes.get(key) != value) or key not in attributes:
                    attributes[key] = value
            if attributes != (target.get("attributes") or {}):
                target["attributes"] = attributes
                changed.add("attributes")
        return changed

    def _warn_not_kept(self, target: dict, record: Record) -> None:
        """A row merged into a contact keeps the contact's values where it has some: each of the
        row's values that differs from what the contact kept is said in a warning (and kept
        whole in the warnings file), not dropped in silence."""
        columns = {field: column for _index, field, column in self.plan}
        for name, value in record.values.items():
            kept = target.get(name)
            if name not in columns or value in (None, "") or kept in (None, "") or value == kept:
                continue
            if name == "notes" and str(value) in str(kept):
                continue  # notes are joined ("Deuxième fiche" follows the first card's note)
            self.counters.warn(
                record.rows[0][0],
                columns[name],
                Text(
                    gettext_noop("not kept: the contact already has “%(kept)s”"),
                    kept=_shortened(str(kept)),
                ),
                str(value),
            )

    def _country_of(self, values: dict[str, Any]) -> str:
        """The row's country as far as the file tells: its country column, else the country of
        a phone number written with another country's code, else the shop's own country."""
        country = values.get("country")
        if country:
            return country
        return phone_country(values.get("phone") or "") or self.default_country

    def _copy_rows(self, pairs: list[tuple[int, Record]]) -> Iterator[tuple]:
        """(first value, *_COPY_COLUMNS) per record: the first value is an id or a position.

        Values as the database stores them, for COPY (PostgreSQL) and executemany (SQLite)
        alike: the time as Django would write it there (SQLite keeps naive UTC text; dates are
        adapted by the driver), custom attributes as JSON text."""
        now = sql.datetime_value(timezone.now())
        status = str(Contact.Status.ACTIVE)
        country, language = self.default_country, self.default_language
        dumps = _attributes_json
        # Spelled out field by field (in FIELDS order, checked at the end of this module): this
        # runs once per contact and a generic loop costs a third of the import's CPU.
        for first, record in pairs:
            get = record.values.get
            yield (
                first,
                get("email"),
                get("external_id"),
                get("civility", ""),
                get("first_name", ""),
                get("last_name", ""),
                get("phone", ""),
                get("phone_invalid", ""),
                get("address", ""),
                get("postal_code", ""),
                get("city", ""),
                get("country") or country,
                get("language") or language,
                get("birth_date"),
                get("joined_on"),
                get("source", ""),
                get("notes", ""),
                dumps(record.attrs) if record.attrs else "{}",
                status,
                now,
                now,
            )

    def _insert(self, pairs: list[tuple[int, Record]]) -> set[int]:
        columns = ("id", *_COPY_COLUMNS)
        rows = self._copy_rows(pairs)
        if self.is_pg:
            return sql.copy_insert_ignoring_conflicts(
                table=Contact._meta.db_table, columns=columns, rows=rows
            )
        # SQLite holds its write lock for the whole batch: no one can insert the same email
        # between our look-up and this insert, so a plain insert is safe. The prepared tuples
        # spare building a Contact per row and Django's SQL assembly (half the import's time).
        sql.executemany_insert(table=Contact._meta.db_table, columns=columns, rows=rows)
        return {contact_id for contact_id, _r in pairs}

    def _update(self, updates: list[tuple[dict, set[str]]]) -> None:
        fields = sorted(set().union(*(changed for _t, changed in updates)))
        now = timezone.now()
        objects = []
        for target, _changed in updates:
            contact = Contact(id=target["id"], **{name: target[name] for name in fields})
            contact.updated_at = now
            objects.append(contact)
        Contact.objects.bulk_update(objects, [*fields, "updated_at"], batch_size=500)

    def _tag(self, pairs: list[tuple[int, Record]]) -> None:
        wanted = {tag for _id, record in pairs for tag in record.tags}
        if not wanted:
            return
        missing = [tag for tag in wanted if tag.lower() not in self.tag_ids]
        if missing:
            Tag.objects.bulk_create([Tag(name=tag) for tag in missing], ignore_conflicts=True)
            for pk, name in Tag.objects.filter(name__in=missing).values_list("id", "name"):
                self.tag_ids[name.lower()] = pk
        through = Contact.tags.through
        links = {
            (contact_id, self.tag_ids[tag.lower()])
            for contact_id, record in pairs
            for tag in record.tags
            if tag.lower() in self.tag_ids
        }
        through.objects.bulk_create(
            [through(contact_id=c, tag_id=t) for c, t in links],
            ignore_conflicts=True,
            batch_size=1000,
        )

    def _list(self) -> MailingList:
        if self.mailing_list is None:
            self.mailing_list, _created = MailingList.objects.get_or_create(
                name=self.options.list_name
            )
        return self.mailing_list

    def _subscribe(self, pairs: list[tuple[int, Record]]) -> None:
        if not self.options.list_name:
            return
        if self.has_consent_column:
            pairs = [(c, r) for c, r in pairs if r.consent is True]
        if not pairs:
            return
        list_id = self._list().pk
        if self.proof is None:
            self.proof = ConsentProof(
                method=Method.IMPORT,
                at=self.imported_at,
                user=self.options.actor_name,
                file=self.options.file_name,
                import_id=self.options.job_id,
                confirmed_by_user=not self.has_consent_column,
            )
        tz, combine, midnight = self.tz, dt.datetime.combine, dt.time(0)
        self.counters.subscribed += subscriptions_add_with_proof(
            actor=self.options.actor,
            mailing_list_id=list_id,
            proof=self.proof,
            entries=[
                (
                    contact_id,
                    record.consent_row,
                    None
                    if record.consent_date is None
                    else combine(record.consent_date, midnight, tzinfo=tz),
                )
                for contact_id, record in pairs
            ],
        )


class _Writes:
    """The writing side of a contact import, run by the thread that writes.

    Each batch is its own transaction, except in a first import into an empty base: there the
    whole file is one transaction, the contacts' search indexes are set aside at its start and
    built after its commit (fidele.contacts.bulk_load), and a failure leaves the base empty."""

    def __init__(self, engine: ContactImport):
        self.engine = engine
        self.first_load = False
        self.started = False
        self.atomic: transaction.Atomic | None = None
        # Decided and said before any batch is written, by the reading thread: inside the
        # transaction heartbeats are not seen by others on SQLite (one writer), and a recovery
        # must know that a killed import saved nothing.
        self.wanted = settings.IMPORT_FIRST_LOAD and contacts_empty()
        if self.wanted:
            if not connection.in_atomic_block:
                # Pending builds of an earlier first import, before new rows make them slower.
                search_indexes_build()
            engine.counters.all_or_nothing = True
            if engine.options.heartbeat:
                engine.options.heartbeat()

    def __call__(self, batch: dict[str, Record]) -> None:
        if not self.started:
            self.started = True
            if self.wanted:
                self._begin()
        self.engine.flush(batch)

    def _begin(self) -> None:
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        try:
            self.first_load = search_indexes_set_aside()
        except BaseException:
            self.end(keep=False)
            raise
        if not self.first_load:
            # Someone else's contacts arrived since the check: batch by batch, as usual.
            self.end(keep=True)

    def end(self, keep: bool) -> None:
        atomic, self.atomic = self.atomic, None
        if atomic is not None:
            if not keep:
                transaction.set_rollback(True)
                if self.first_load:
                    self.engine.counters.nothing_kept()
                    self.first_load = False
            atomic.__exit__(None, None, None)
        self.engine.counters.all_or_nothing = False


# Every field an import may fill (fidele.contacts.fields), plus the phone as typed when it was not
# valid; FIELDS keeps its own order because the COPY rows below spell it out.
assert set(FIELDS) == {*IMPORTABLE_FIELDS, "phone_invalid"}
# The COPY rows in ContactImport._insert spell these out in this order.
assert FIELDS == (
    "email", "external_id", "civility", "first_name", "last_name", "phone", "phone_invalid",
    "address", "postal_code", "city", "country", "language", "birth_date", "joined_on",
    "source", "notes",
)  # fmt: skip


def _named(row: dict[str, Any], detail: str) -> str:
    """A stored contact as the owner knows it, for a rejected row's reason: "Gérard Joly
    (CLI-00001)" (its number, or else its email, after the name), never its database id alone."""
    name = " ".join(part for part in (row.get("first_name"), row.get("last_name")) if part)
    extra = row.get(detail) or ""
    if name and extra:
        return f"{name} ({extra})"
    return name or extra or f"#{row['id']}"


def _shortened(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
