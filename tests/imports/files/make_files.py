"""Writes the small fixture files of this directory. Run it again after changing it:
`python tests/imports/files/make_files.py`. The bytes matter (encodings, BOM, CRLF), which is
why they are written from here rather than edited by hand."""

import csv
import io
from pathlib import Path

HERE = Path(__file__).parent

# A French Excel export: a header with accents and punctuation, a quoted cell holding a newline
# and the delimiter, blank lines, and the usual mistakes (bad email, bad phone, 31/02, a
# duplicate, a customer without email). Row numbers as a spreadsheet shows them are in comments.
HEADER = [
    "N° client",
    "Civilité",
    "Prénom",
    "Nom",
    "Adresse e-mail",
    "Tél. portable",
    "Adresse",
    "CP",
    "Ville",
    "Date de naissance",
    "Client depuis",
    "Newsletter",
    "Étiquettes",
    "Remarques",
    "Région",
]
ROWS = [
    # row 2
    [
        "C001",
        "Mme",
        "Hélène",
        "Dupré",
        "  Helene.Dupre@Orange.FR ",
        "06 12 34 56 78",
        "12, rue de l'Église\r\nBâtiment B; 2e étage",
        "1000",
        "Bourg-en-Bresse",
        "14/07/1975",
        "03/01/2019",
        "oui",
        "VIP, Vins",
        "Préfère le rosé à 12,50 €",
        "Auvergne-Rhône-Alpes",
    ],
    # row 3
    [
        "C002",
        "M.",
        "Jérôme",
        "Lefèvre",
        "jerome.lefevre@free.fr",
        "+33 7 81 23 45 67",
        "3 place du Marché",
        "24100",
        "Bergerac",
        "31/02/1980",
        "15/06/2020",
        "non",
        "Vins",
        "",
        "Nouvelle-Aquitaine",
    ],
    # row 4 (blank) and row 5 (only delimiters): skipped
    [],
    ["", "", ""],
    # row 6: malformed email -> rejected
    [
        "C003",
        "Monsieur",
        "François",
        "Çelik",
        "francois.celik@@exemple.fr",
        "0556000000",
        "",
        "33000",
        "Bordeaux",
        "01/01/1990",
        "",
        "oui",
        "",
        "",
        "Nouvelle-Aquitaine",
    ],
    # row 7: unreadable phone kept aside, dd/mm/yy, ISO date
    [
        "C004",
        "Madame",
        "Zoé",
        "Martin",
        "zoe.martin@laposte.net",
        "06 12",
        "",
        "75011",
        "Paris",
        "05/05/85",
        "2021-09-01",
        "o",
        "Épicerie",
        "",
        "Île-de-France",
    ],
    # row 8: Hélène again -> merged (fills her blanks, adds a tag)
    [
        "C001",
        "",
        "Hélène",
        "Dupré",
        "helene.dupre@orange.fr",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "Fromages",
        "Deuxième ligne pour Hélène",
        "",
    ],
    # row 9: no email, no customer number, a name -> kept
    [
        "",
        "Mlle",
        "Inès",
        "Moreau",
        "",
        "05 53 00 00 00",
        "",
        "24000",
        "Périgueux",
        "",
        "",
        "non",
        "",
        "Pas d'e-mail",
        "",
    ],
]


def table(delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in ROWS:
        writer.writerow(row)
    return out.getvalue()


ORDERS_LINES = (
    "N° commande;Date commande;E-mail;Référence;Produit;Catégorie;Quantité;Prix unitaire;Canal\r\n"
    "A-1;12/03/2024 10:30;helene.dupre@orange.fr;VIN-001;Pécharmant 2019;Vins;2;12,50 €;"
    "Boutique\r\n"
    "A-1;12/03/2024 10:30;helene.dupre@orange.fr;FRO-002;Cabécou;Fromages;3;2,90;Boutique\r\n"
    "A-2;2024-04-01;jerome.lefevre@free.fr;VIN-001;Pécharmant 2019;Vins;1;12,50;Site\r\n"
    "A-3;01/05/2024;inconnu@exemple.fr;VIN-001;Pécharmant 2019;Vins;1;12,50;Site\r\n"
    "A-4;31/02/2024;jerome.lefevre@free.fr;VIN-001;Pécharmant 2019;Vins;1;12,50;Site\r\n"
)

ORDERS_TOTALS = (
    "order_id,customer_external_id,ordered_at,total,channel\n"
    'T-1,C001,2024-01-05,"1 234,50",shop\n'
    'T-2,C002,2024-02-06,"89,90 €",web\n'
    "T-3,C999,2024-02-07,10,web\n"
)


def main() -> None:
    (HERE / "contacts_fr_cp1252.csv").write_bytes(table(";").encode("cp1252"))
    (HERE / "contacts_fr_utf8_bom.csv").write_bytes(table(",").encode("utf-8-sig"))
    (HERE / "contacts_fr_utf8.tsv").write_bytes(table("\t").encode("utf-8"))
    (HERE / "orders_lines_cp1252.csv").write_bytes(ORDERS_LINES.encode("cp1252"))
    (HERE / "orders_totals.csv").write_bytes(ORDERS_TOTALS.encode("utf-8"))
    (HERE / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "no_known_columns.csv").write_bytes(b"foo;bar;baz\r\n1;2;3\r\n")


if __name__ == "__main__":
    main()
