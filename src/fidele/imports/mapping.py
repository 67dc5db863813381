"""Column headers -> canonical fields, in French and English.

Headers are compared after removing accents, case and punctuation, so "N° client", "n client",
"Numéro-Client" and "NUMERO CLIENT" are one name. A mapping is a list aligned with the file's
columns (two columns may share a header), each entry a canonical field, "attr.<key>" for a custom
attribute, or "" to ignore the column.
"""

from __future__ import annotations

import re
import unicodedata

from django.conf import settings
from django.utils import translation
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from fidele.contacts.fields import IMPORTABLE_FIELDS
from fidele.imports.pipeline import REJECT_COLUMNS

IGNORE = ""
ATTR_PREFIX = "attr."

_CONTACT_LABELS: dict[str, str] = {
    "external_id": _("Customer number"),
    "civility": _("Title (Mr/Mrs)"),
    "first_name": _("First name"),
    "last_name": _("Last name"),
    "email": _("Email"),
    "phone": _("Phone"),
    "address": _("Address"),
    "postal_code": _("Postal code"),
    "city": _("City"),
    "country": _("Country"),
    "language": _("Language"),
    "birth_date": _("Birth date"),
    "joined_on": _("Customer since"),
    "consent": _("Consent (yes/no)"),
    "consent_date": _("Consent date"),
    "tags": _("Tags"),
    "other_customer_numbers": _("Other customer numbers"),
    "notes": _("Notes"),
    "source": _("Source"),
}

# The import's targets for contacts: the contact's own fields (fidele.contacts.fields), then
# what an import maps apart from them (consent and tags).
CONTACT_FIELDS: dict[str, str] = {
    name: _CONTACT_LABELS[name]
    for name in (*IMPORTABLE_FIELDS, "consent", "consent_date", "tags", "other_customer_numbers")
}

ORDER_FIELDS: dict[str, str] = {
    "order_id": _("Order number"),
    "customer_email": _("Customer email"),
    "customer_external_id": _("Customer number"),
    "ordered_at": _("Order date"),
    "sku": _("Product reference (SKU)"),
    "product": _("Product name"),
    "category": _("Category"),
    "quantity": _("Quantity"),
    "unit_price": _("Unit price"),
    "total": _("Order total"),
    "channel": _("Channel"),
}

_CONTACT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": (
        "external id",
        "externalid",
        "n client",
        "no client",
        "num client",
        "numero client",
        "numero de client",
        "code client",
        "ref client",
        "reference client",
        "id client",
        "identifiant client",
        "client id",
        "customer id",
        "customer number",
        "customer no",
        "customer ref",
        "customer code",
        "client number",
        "matricule",
        "n adherent",
        "numero adherent",
        "numero d adherent",
    ),
    "civility": ("civilite", "civ", "titre", "title", "salutation", "genre", "gender"),
    "first_name": ("prenom", "first name", "firstname", "given name", "forename"),
    "last_name": (
        "nom",
        "nom de famille",
        "last name",
        "lastname",
        "surname",
        "family name",
        "name",
        "nom client",
    ),
    "email": (
        "email",
        "e mail",
        "mail",
        "courriel",
        "adresse e mail",
        "adresse email",
        "adresse mail",
        "adresse electronique",
        "email address",
        "e mail address",
        "mel",
    ),
    "phone": (
        "telephone",
        "tel",
        "portable",
        "mobile",
        "gsm",
        "phone",
        "phone number",
        "mobile phone",
        "cell",
        "cellphone",
        "telephone portable",
        "tel portable",
        "telephone mobile",
        "tel mobile",
        "numero de telephone",
        "n telephone",
        "tel fixe",
        "telephone fixe",
    ),
    "address": (
        "adresse",
        "adresse postale",
        "rue",
        "address",
        "street",
        "street address",
        "address line 1",
        "adresse 1",
        "adresse ligne 1",
    ),
    "postal_code": ("code postal", "cp", "postal code", "postcode", "zip", "zip code"),
    "city": ("ville", "commune", "localite", "city", "town"),
    "country": ("pays", "country", "code pays", "country code"),
    "language": ("langue", "language", "lang", "locale"),
    "birth_date": (
        "date de naissance",
        "naissance",
        "ne le",
        "nee le",
        "date naissance",
        "birth date",
        "birthdate",
        "date of birth",
        "dob",
        "birthday",
        "anniversaire",
    ),
    "joined_on": (
        "date d inscription",
        "date inscription",
        "inscription",
        "inscrit le",
        "client depuis",
        "date de creation",
        "date creation",
        "cree le",
        "date d adhesion",
        "adhesion",
        "member since",
        "customer since",
        "joined",
        "joined on",
        "signup date",
        "sign up date",
        "created",
        "created at",
        "registration date",
    ),
    "consent": (
        "newsletter",
        "opt in",
        "optin",
        "consentement",
        "consentement email",
        "consentement newsletter",
        "accepte newsletter",
        "accord newsletter",
        "accepte les emails",
        "abonne",
        "abonne newsletter",
        "consent",
        "email consent",
        "subscribed",
        "marketing consent",
        "accepts marketing",
    ),
    "consent_date": (
        "date de consentement",
        "date consentement",
        "date opt in",
        "date optin",
        "date d abonnement",
        "consent date",
        "opt in date",
        "optin date",
        "subscribed at",
    ),
    "tags": ("tags", "tag", "etiquettes", "etiquette", "labels", "label", "groupes", "groups"),
    "notes": (
        "commentaire",
        "commentaires",
        "remarque",
        "remarques",
        "notes",
        "note",
        "observations",
        "observation",
        "comment",
        "comments",
        "memo",
    ),
    "source": ("source", "origine", "provenance", "canal d acquisition", "origin"),
    # The export's column (fidele.imports.exports), in English and in French.
    "other_customer_numbers": (
        "other customer numbers",
        "autres numeros client",
        "autres numeros clients",
    ),
}

_ORDER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "order_id": (
        "order id",
        "orderid",
        "order number",
        "order no",
        "order",
        "n commande",
        "no commande",
        "num commande",
        "numero commande",
        "numero de commande",
        "commande",
        "ref commande",
        "reference commande",
        "id commande",
        "n facture",
        "numero facture",
        "numero de facture",
        "facture",
        "invoice",
        "invoice number",
        "n ticket",
        "ticket",
    ),
    "customer_email": (
        "customer email",
        "email",
        "e mail",
        "mail",
        "courriel",
        "email client",
        "e mail client",
        "adresse e mail",
        "adresse email",
        "customer e mail",
    ),
    "customer_external_id": (
        "customer external id",
        "external id",
        "customer id",
        "customer number",
        "n client",
        "no client",
        "num client",
        "numero client",
        "numero de client",
        "code client",
        "ref client",
        "id client",
        "client",
    ),
    "ordered_at": (
        "ordered at",
        "order date",
        "date",
        "date commande",
        "date de commande",
        "date d achat",
        "date achat",
        "date facture",
        "date de facture",
        "date vente",
        "date de vente",
        "purchase date",
        "created at",
    ),
    "sku": (
        "sku",
        "reference",
        "ref",
        "ref produit",
        "reference produit",
        "code produit",
        "code article",
        "ref article",
        "reference article",
        "article ref",
        "product code",
        "product id",
        "ean",
    ),
    "product": (
        "product",
        "product name",
        "produit",
        "nom produit",
        "nom du produit",
        "designation",
        "libelle",
        "article",
        "libelle article",
        "item",
    ),
    "category": ("category", "categorie", "famille", "rayon", "gamme", "product category"),
    "quantity": ("quantity", "qty", "quantite", "qte", "nombre", "nb"),
    "unit_price": (
        "unit price",
        "price",
        "prix unitaire",
        "prix",
        "pu",
        "prix unitaire ttc",
        "pu ttc",
        "prix ttc",
        "unit price incl tax",
    ),
    "total": (
        "total",
        "montant",
        "montant ttc",
        "total ttc",
        "montant total",
        "total commande",
        "order total",
        "amount",
        "montant commande",
        "total amount",
        "ca",
        "chiffre d affaires",
    ),
    "channel": (
        "channel",
        "canal",
        "canal de vente",
        "magasin",
        "boutique",
        "store",
        "point de vente",
    ),
}


def header_key(header: str) -> str:
    """Accent-, case- and punctuation-insensitive form of a header."""
    text = unicodedata.normalize("NFKD", header or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^0-9a-zA-Z]+", " ", text).strip().lower()
    # "n°" -> "n", "nº" (NFKD "no") stays "no": both are in the synonyms.
    return text


def _index(synonyms: dict[str, tuple[str, ...]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for field, names in synonyms.items():
        index[header_key(field)] = field
        for name in names:
            index.setdefault(header_key(name), field)
    return index


_CONTACT_INDEX = _index(_CONTACT_SYNONYMS)
_ORDER_INDEX = _index(_ORDER_SYNONYMS)


def fields_for(kind: str) -> dict[str, str]:
    return ORDER_FIELDS if kind == "orders" else CONTACT_FIELDS


def attribute_key(header: str) -> str:
    # Fidèle's own export names attribute columns "attr.<key>": read back, they keep their key.
    stripped = header.strip()
    if stripped.lower().startswith(ATTR_PREFIX):
        stripped = stripped[len(ATTR_PREFIX) :]
    key = slugify(header_key(stripped)).replace("-", "_")
    return key[:60] or "column"


def guess_field(kind: str, header: str) -> str | None:
    return (_ORDER_INDEX if kind == "orders" else _CONTACT_INDEX).get(header_key(header))


def _reject_column_names() -> set[str]:
    """The last two columns of a rejected-rows file (fidele.imports.pipeline.REJECT_COLUMNS), as
    every language of the app names them."""
    names = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            names.update(header_key(str(label)) for label in REJECT_COLUMNS.values())
    return names


def propose_mapping(kind: str, header: list[str]) -> list[str]:
    """One target per column. A field claimed by an earlier column is not given twice: for
    contacts the later column becomes a custom attribute (a second phone is kept, not dropped);
    for orders it is ignored."""
    taken: set[str] = set()
    mapping: list[str] = []
    ignored = _reject_column_names()
    for position, name in enumerate(header):
        field = guess_field(kind, name)
        if header_key(name) in ignored and position >= len(header) - 2:
            # The row number and reason of a rejected-rows file, imported again once corrected.
            mapping.append(IGNORE)
        elif field and field not in taken:
            taken.add(field)
            mapping.append(field)
        elif kind == "contacts" and name.strip():
            mapping.append(ATTR_PREFIX + attribute_key(name))
        elif kind == "contacts":
            mapping.append(ATTR_PREFIX + f"column_{position + 1}")
        else:
            mapping.append(IGNORE)
    return mapping


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`["Col=field", ...]` (CLI --map) -> {header key: target}. Raises ValueError on bad input."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        if not sep or not column.strip():
            raise ValueError(f"--map expects COLUMN=field, got {pair!r}")
        overrides[header_key(column)] = target.strip()
    return overrides


def normalise_target(kind: str, target: str, header: str) -> str:
    """A user-given target -> "" | canonical field | "attr.<key>". Raises ValueError."""
    target = (target or "").strip()
    if target in ("", "-", "ignore", "ignorer", "none"):
        return IGNORE
    if kind == "contacts" and target in ("attr", "attribute", "attribut"):
        return ATTR_PREFIX + attribute_key(header)
    if kind == "contacts" and target.startswith(ATTR_PREFIX):
        key = attribute_key(target[len(ATTR_PREFIX) :])
        return ATTR_PREFIX + key
    fields = fields_for(kind)
    if target in fields:
        return target
    guessed = guess_field(kind, target)
    if guessed:
        return guessed
    raise ValueError(
        f"unknown field {target!r} for {kind}; use one of: {', '.join(fields)}"
        + (", attr.<key>, ignore" if kind == "contacts" else ", ignore")
    )


def apply_overrides(
    kind: str, header: list[str], mapping: list[str], overrides: dict[str, str]
) -> list[str]:
    """Apply {header key: target} on a proposed mapping. Unknown columns raise ValueError."""
    result = list(mapping)
    keys = [header_key(h) for h in header]
    for column_key, target in overrides.items():
        if column_key not in keys:
            raise ValueError(
                f"--map names a column {column_key!r} that the file does not have "
                f"(columns: {', '.join(header)})"
            )
        position = keys.index(column_key)
        value = normalise_target(kind, target, header[position])
        if value and not value.startswith(ATTR_PREFIX):
            # A field given explicitly wins over a guess elsewhere.
            for other, existing in enumerate(result):
                if existing == value and other != position:
                    result[other] = (
                        ATTR_PREFIX + attribute_key(header[other]) if kind == "contacts" else IGNORE
                    )
        result[position] = value
    return result


def validate_mapping(kind: str, header: list[str], mapping: list[str]) -> list[str]:
    """Check a mapping (from the UI) column by column. Raises ValueError."""
    if len(mapping) != len(header):
        raise ValueError("the mapping does not have one entry per column")
    seen: set[str] = set()
    result = []
    for name, target in zip(header, mapping, strict=True):
        value = normalise_target(kind, target, name)
        if value and value in seen and not value.startswith(ATTR_PREFIX):
            raise ValueError(f"two columns are mapped to {value!r}")
        seen.add(value)
        result.append(value)
    return result
