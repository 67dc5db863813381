"""The demo shop: "Cave & Terroir", a wine and regional-products shop in Bergerac (Dordogne).

`demo_load` fills the database with a few thousand customers and two years of purchases so that a
newcomer sees a believable business on first start, and so that segments, RFM, CLV and campaign
reports have something realistic to chew on.

Everything is drawn from one `random.Random(seed)` and dated relative to a reference day, so the
same seed and reference day give exactly the same rows (tests and screenshots rely on it). Nothing
iterates over a `set`, whose order changes between processes.

Email addresses only use non-routable domains (`*.example`, `example.com/.net/.org`, RFC 2606):
later features send email, and a demo must never reach a real mailbox. Client IPs in consent
proofs come from the documentation ranges (RFC 5737) for the same reason.
"""

from __future__ import annotations

import bisect
import time
import unicodedata
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fidele.analytics.dynamics import dashboard_data_refresh
from fidele.analytics.models import ClvFit
from fidele.analytics.predictions import clv_refresh
from fidele.commerce.models import Order, OrderLine, Product
from fidele.contacts.consent import (
    Consent,
    ConsentProof,
    Method,
    Withdrawal,
    subscriptions_add,
)
from fidele.contacts.models import (
    AttributeLabel,
    Contact,
    CustomerNumberAlias,
    MailingList,
    Subscription,
    Tag,
)
from fidele.core.actors import Actor, System
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.demo.campaign import demo_past_campaign_send
from fidele.demo.quality import quality_problems_in_orders, quality_problems_plant
from fidele.demo.segments import demo_segments_create
from fidele.demo.website import demo_website_traffic
from fidele.quality.audit import audit_run
from fidele.quality.duplicates import duplicates_search
from fidele.quality.models import AuditSnapshot
from fidele.segments.personas import personas_refresh
from fidele.segments.rfm import rfm_refresh
from fidele.tracking.models import Site

SHOP_NAME = "Cave & Terroir"
# Fictional, in Bergerac: the legal footer of the demo's emails needs a postal address.
SHOP_POSTAL_ADDRESS = "12 place Pélissière\n24100 Bergerac"
# How the audit log and the consent proofs name the demo when nobody loaded it by hand.
DEMO_ACTOR = "fidele demo"
DEFAULT_CONTACTS = 3000
DEFAULT_SEED = 2024
HISTORY_DAYS = 730
BATCH_SIZE = 2000


class DemoDataExists(Exception):
    """The database already holds business data; loading the demo would mix it with real data."""


@dataclass(frozen=True)
class DemoSummary:
    contacts: int
    tags: int
    lists: int
    subscriptions: int
    products: int
    orders: int
    order_lines: int
    revenue: str
    seed: int
    reference_date: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


MALE_FIRST = _words(
    "Jean Pierre Michel Philippe Alain Nicolas François Christophe Stéphane Frédéric Laurent "
    "Julien Sébastien Jérôme Thierry Éric Olivier Bernard Didier Patrick Hervé Gaël Loïc Benoît "
    "Rémi Hugo Théo Lucas Léo Raphaël Gaëtan Jérémie André Gérard René Joël Cédric Aurélien "
    "Clément Étienne Antoine Baptiste Thibault Mathieu Guillaume Yannick Romain Noël Maël"
)
FEMALE_FIRST = _words(
    "Marie Nathalie Isabelle Sylvie Catherine Françoise Valérie Christine Monique Hélène Céline "
    "Émilie Aurélie Sophie Julie Camille Léa Chloé Manon Inès Zoé Anaïs Mélanie Gaëlle Noémie "
    "Maëlle Élodie Stéphanie Véronique Brigitte Danièle Geneviève Agnès Bénédicte Clémence "
    "Margaux Océane Laëtitia Joséphine Solène Thérèse Mireille Annie Pascale Odile Cécile Lucie "
    "Louise Adèle Jeanne"
)
LAST_NAMES = _words(
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
    "Lespinasse Téllez Beaufils Crémoux Delbos Estève Fénelon Gouzon Janicot Lavergne Monteil"
) + ["Da Silva", "Le Gall", "Le Roux", "de Castelnau", "D'Hérouville", "Saint-Hilaire"]
# Dordogne has a large British community: they get English names and often English as language.
BRITISH_FIRST = _words(
    "James David Peter Richard Michael Andrew Sarah Emma Helen Susan Claire Jane"
)
BRITISH_LAST = _words("Smith Jones Taylor Brown Williams Wilson Evans Walker Wright Hughes Clarke")
GERMAN_FIRST = _words("Klaus Jürgen Stefan Thomas Anja Sabine Ursula Katrin")
GERMAN_LAST = _words("Müller Schmidt Schneider Fischer Weber Wagner Becker Schäfer")
DUTCH_FIRST = _words("Jan Pieter Henk Sanne Anouk Femke Joost Lotte")
DUTCH_LAST = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "van Dijk"]

# (postal code, city, weight) by area. Weights roughly follow population and distance to the shop.
DORDOGNE = [
    ("24100", "Bergerac", 40),
    ("24000", "Périgueux", 9),
    ("24200", "Sarlat-la-Canéda", 4),
    ("24130", "Prigonrieux", 4),
    ("24240", "Monbazillac", 3),
    ("24680", "Gardonne", 3),
    ("24150", "Lalinde", 3),
    ("24500", "Eymet", 3),
    ("24520", "Mouleydier", 2),
    ("24100", "Creysse", 3),
    ("24130", "La Force", 3),
    ("24560", "Issigeac", 2),
    ("24240", "Sigoulès-et-Flaugeac", 2),
    ("24230", "Vélines", 1),
    ("24600", "Ribérac", 2),
    ("24400", "Mussidan", 2),
    ("24750", "Trélissac", 2),
    ("24110", "Saint-Astier", 1),
    ("24260", "Le Bugue", 1),
    ("24140", "Villamblard", 1),
    ("24380", "Vergt", 1),
    ("24610", "Saint-Méard-de-Gurçon", 1),
]
GIRONDE = [
    ("33000", "Bordeaux", 10),
    ("33200", "Bordeaux", 3),
    ("33800", "Bordeaux", 2),
    ("33220", "Sainte-Foy-la-Grande", 6),
    ("33500", "Libourne", 4),
    ("33330", "Saint-Émilion", 2),
    ("33700", "Mérignac", 3),
    ("33600", "Pessac", 2),
    ("33400", "Talence", 2),
    ("33120", "Arcachon", 1),
    ("33190", "La Réole", 1),
    ("33890", "Gensac", 1),
]
LOT_ET_GARONNE = [
    ("47000", "Agen", 4),
    ("47200", "Marmande", 4),
    ("47300", "Villeneuve-sur-Lot", 3),
    ("47120", "Duras", 3),
    ("47500", "Fumel", 1),
    ("47400", "Tonneins", 1),
    ("47800", "Miramont-de-Guyenne", 3),
    ("47410", "Lauzun", 1),
]
LOT = [("46000", "Cahors", 3), ("46300", "Gourdon", 1), ("46200", "Souillac", 1)]
PARIS = [(f"750{n:02d}", "Paris", 2) for n in range(1, 21)] + [
    ("92100", "Boulogne-Billancourt", 3),
    ("94300", "Vincennes", 2),
    ("78000", "Versailles", 2),
    ("92200", "Neuilly-sur-Seine", 1),
    ("93100", "Montreuil", 1),
]
OTHER_FRANCE = [
    ("31000", "Toulouse", 4),
    ("69003", "Lyon", 3),
    ("44000", "Nantes", 2),
    ("87000", "Limoges", 3),
    ("17000", "La Rochelle", 2),
    ("64200", "Biarritz", 2),
    ("19100", "Brive-la-Gaillarde", 3),
    ("59000", "Lille", 1),
    ("67000", "Strasbourg", 1),
    ("13006", "Marseille", 1),
]
# (country, postal code, city, weight, mobile prefix in E.164, digits after it, language)
ABROAD = [
    ("GB", "SW11 4NB", "London", 5, "+447", 9, "en"),
    ("GB", "BS8 1TH", "Bristol", 2, "+447", 9, "en"),
    ("GB", "M20 2RN", "Manchester", 1, "+447", 9, "en"),
    ("BE", "1050", "Ixelles", 3, "+3247", 7, "fr"),
    ("BE", "4000", "Liège", 1, "+3249", 7, "fr"),
    ("NL", "1017 CE", "Amsterdam", 2, "+316", 8, "en"),
    ("CH", "1204", "Genève", 2, "+4179", 7, "fr"),
    ("DE", "10115", "Berlin", 1, "+49151", 8, "en"),
]
# (area name, weight, table, landline prefix after +33)
AREAS = [
    ("dordogne", 52, DORDOGNE, "5"),
    ("gironde", 15, GIRONDE, "5"),
    ("lot-et-garonne", 9, LOT_ET_GARONNE, "5"),
    ("lot", 2, LOT, "5"),
    ("paris", 11, PARIS, "1"),
    ("france", 6, OTHER_FRANCE, "5"),
    ("abroad", 5, ABROAD, ""),
]
LOCAL_AREAS = ("dordogne", "gironde", "lot-et-garonne", "lot")

STREET_TYPES = [("rue", 10), ("avenue", 4), ("boulevard", 1), ("place", 1), ("chemin", 3),
                ("impasse", 2), ("allée", 2), ("route", 2)]  # fmt: skip
STREET_NAMES = [
    "de la République",
    "Victor Hugo",
    "Jean Jaurès",
    "des Vignes",
    "du Château",
    "de la Gare",
    "Pasteur",
    "Gambetta",
    "du Marché",
    "des Carmes",
    "Saint-Martin",
    "de Verdun",
    "du Général de Gaulle",
    "des Tilleuls",
    "des Chênes",
    "de l'Église",
    "Neuve d'Argenson",
    "Sainte-Catherine",
    "Clemenceau",
    "des Récollets",
    "Mounet-Sully",
    "de la Résistance",
    "Cyrano de Bergerac",
    "des Noyers",
    "du Moulin",
    "de Pécharmant",
    "des Pruniers",
    "Émile Zola",
    "de la Libération",
    "des Écoles",
    "du Périgord",
    "Alsace-Lorraine",
    "Anatole France",
]
RURAL = ["Lieu-dit Les Vergnes", "Lieu-dit La Borie", "Le Bourg", "Lieu-dit Le Mayne",
         "Lieu-dit Les Granges", "Lieu-dit La Combe", "Hameau de Laroque"]  # fmt: skip
FOREIGN_STREETS = {
    "GB": ["Lavender Hill", "Whiteladies Road", "Wilmslow Road", "King's Road", "Park Lane"],
    "BE": ["Chaussée d'Ixelles", "Rue Saint-Gilles", "Avenue Louise", "Rue des Guillemins"],
    "NL": ["Keizersgracht", "Prinsengracht", "Herengracht"],
    "CH": ["Rue de Carouge", "Boulevard du Pont-d'Arve", "Rue de la Servette"],
    "DE": ["Invalidenstraße", "Torstraße", "Chausseestraße"],
}

PERSONAL_DOMAINS = [("orange.example", 18), ("free.example", 10), ("laposte.example", 8),
                    ("sfr.example", 6), ("wanadoo.example", 9), ("gmail.example", 22),
                    ("hotmail.example", 9), ("yahoo.example", 4), ("example.com", 6),
                    ("example.net", 4), ("example.org", 4)]  # fmt: skip
FOREIGN_DOMAINS = [("btinternet.example", 3), ("gmail.example", 5), ("example.com", 2),
                   ("telenet.example", 1), ("bluewin.example", 1)]  # fmt: skip

BUSINESS_PREFIXES = ["Restaurant", "Auberge", "Hôtel", "Brasserie", "Épicerie", "Traiteur",
                     "Comité d'entreprise", "Gîte", "Bistrot", "Domaine"]  # fmt: skip
BUSINESS_NAMES = [
    "Le Cyrano",
    "La Flambée",
    "Les Récollets",
    "Le Vieux Logis",
    "La Tour des Vents",
    "Les Tilleuls",
    "Le Périgord Gourmand",
    "La Belle Étoile",
    "Le Moulin de Malfourat",
    "Les Jardins d'Épicure",
    "Le Clos Saint-Jacques",
    "Chez Germaine",
    "L'Imparfait",
    "Le Bourbon",
    "Saveurs du Sud-Ouest",
    "La Ferme des Noyers",
]

ACQUISITION = [("Boutique", 46), ("Site web", 18), ("Salon des vins", 10), ("Bouche-à-oreille", 12),
               ("Office de tourisme", 7), ("Facebook", 5), ("Comité d'entreprise", 2)]  # fmt: skip
FAVOURITE_WINE = [("Rouge", 45), ("Blanc", 18), ("Rosé", 12), ("Liquoreux", 25)]
NOTES = [
    "Livrer après 17 h, le portail est fermé avant.",
    "Préfère être appelé plutôt que recevoir des e-mails.",
    "Client depuis l'ouverture de la boutique.",
    "Allergique aux fruits à coque : attention aux coffrets avec noix.",
    "Commande un coffret pour ses salariés chaque fin d'année.",
    "Vient chaque été avec sa famille, loue un gîte à Monbazillac.",
    "Ancien vigneron, très connaisseur en liquoreux.",
]

TAGS = [
    ("VIP", "#b45309"),
    ("Professionnel", "#1d4ed8"),
    ("Salon des vins", "#7c3aed"),
    ("Club dégustation", "#9f1239"),
    ("Export", "#0f766e"),
    ("Touriste", "#ca8a04"),
    ("Comité d'entreprise", "#4338ca"),
    ("Nouveau client", "#15803d"),
]
LISTS = [
    (
        "Newsletter",
        "Les nouveautés de la cave, les accords mets-vins et l'agenda des dégustations, une fois "
        "par mois.",
        True,
    ),
    (
        "Offres club",
        "Les offres réservées aux membres du club dégustation : primeurs, ventes privées, "
        "invitations.",
        False,
    ),
    ("Professionnels", "Tarifs professionnels, nouveaux millésimes et conditions CHR.", False),
]

# (sku, name, category, price, kind, base popularity)
# `kind` drives seasonality and quantities (wines by colour, bag-in-box, deli, truffle, nuts, gift).
PRODUCTS = [
    ("BER-RG-TRA", "Bergerac rouge Cuvée Tradition 75 cl", "Vins", "8.90", "red", 40),
    ("BER-RG-FUT", "Bergerac rouge élevé en fût de chêne 75 cl", "Vins", "12.50", "red", 22),
    ("BER-BL-SEC", "Bergerac blanc sec 75 cl", "Vins", "8.50", "white", 24),
    ("BER-RS-75", "Bergerac rosé 75 cl", "Vins", "7.90", "rose", 22),
    ("CBE-RG-75", "Côtes de Bergerac rouge 75 cl", "Vins", "11.90", "red", 16),
    ("MBZ-50", "Monbazillac 50 cl", "Vins", "13.50", "sweet", 30),
    ("MBZ-75", "Monbazillac 75 cl", "Vins", "18.90", "sweet", 20),
    ("MBZ-SGN-50", "Monbazillac Sélection de grains nobles 50 cl", "Vins", "32.00", "sweet", 6),
    ("PCH-75", "Pécharmant 75 cl", "Vins", "16.50", "red", 24),
    ("PCH-MAG", "Pécharmant magnum 150 cl", "Vins", "36.00", "red", 4),
    ("SAU-50", "Saussignac 50 cl", "Vins", "22.00", "sweet", 5),
    ("ROS-75", "Rosette moelleux 75 cl", "Vins", "12.00", "sweet", 6),
    ("MTR-RG-75", "Montravel rouge 75 cl", "Vins", "14.50", "red", 8),
    ("MTR-BL-75", "Montravel blanc 75 cl", "Vins", "11.50", "white", 8),
    ("HMT-MOE-50", "Haut-Montravel moelleux 50 cl", "Vins", "15.00", "sweet", 4),
    ("DUR-RG-75", "Côtes de Duras rouge 75 cl", "Vins", "8.20", "red", 12),
    ("DUR-SAU-75", "Côtes de Duras Sauvignon 75 cl", "Vins", "7.90", "white", 12),
    ("BUZ-RG-75", "Buzet rouge 75 cl", "Vins", "9.50", "red", 6),
    ("CAH-MAL-75", "Cahors Malbec 75 cl", "Vins", "13.90", "red", 8),
    ("BDX-SUP-75", "Bordeaux supérieur 75 cl", "Vins", "10.50", "red", 8),
    ("BER-BIB-5L", "Bergerac rouge Bag-in-Box 5 L", "Vins", "24.00", "bib", 10),
    ("VIN-NOIX-50", "Vin de noix du Périgord 50 cl", "Vins", "14.90", "sweet", 6),
    ("FG-CAN-180", "Foie gras de canard entier 180 g", "Épicerie fine", "29.90", "deli", 14),
    ("FG-OIE-130", "Foie gras d'oie entier 130 g", "Épicerie fine", "34.50", "deli", 5),
    ("BLC-FG-200", "Bloc de foie gras de canard 200 g", "Épicerie fine", "19.90", "deli", 10),
    ("CONF-CAN-4", "Confit de canard, 4 cuisses", "Épicerie fine", "24.50", "deli", 12),
    ("MAG-SEC-200", "Magret de canard séché 200 g", "Épicerie fine", "12.90", "deli", 8),
    ("RIL-OIE-180", "Rillettes d'oie 180 g", "Épicerie fine", "7.50", "deli", 10),
    ("GES-CONF-380", "Gésiers de canard confits 380 g", "Épicerie fine", "9.90", "deli", 6),
    ("NOIX-AOP-1KG", "Noix du Périgord AOP 1 kg", "Épicerie fine", "9.80", "nuts", 10),
    ("NOIX-CER-250", "Cerneaux de noix du Périgord 250 g", "Épicerie fine", "8.90", "nuts", 8),
    ("HUI-NOIX-50", "Huile de noix vierge 50 cl", "Épicerie fine", "13.50", "nuts", 6),
    ("TRF-NOI-30", "Truffe noire du Périgord 30 g", "Épicerie fine", "45.00", "truffle", 2),
    ("TRF-BRI-25", "Brisures de truffe noire 25 g", "Épicerie fine", "22.00", "truffle", 3),
    ("CAB-X3", "Cabécous du Périgord (x3)", "Épicerie fine", "6.50", "deli", 6),
    ("CONF-FIG-250", "Confiture de figues 250 g", "Épicerie fine", "5.90", "deli", 6),
    ("CHO-NOIX-150", "Chocolats aux noix 150 g", "Épicerie fine", "8.50", "nuts", 6),
    ("COF-DEC-3", "Coffret découverte Bergerac, 3 bouteilles", "Coffrets", "34.00", "gift", 8),
    ("COF-PERIG", "Coffret Saveurs du Périgord", "Coffrets", "59.00", "gift", 6),
    ("COF-PREST", "Coffret prestige foie gras et Monbazillac", "Coffrets", "89.00", "gift", 3),
    ("COF-NOEL", "Coffret gourmand de Noël", "Coffrets", "49.00", "gift", 5),
    ("COF-CE", "Coffret cadeau entreprise", "Coffrets", "29.00", "gift", 2),
    ("COF-TRUF", "Coffret truffe et foie gras", "Coffrets", "120.00", "gift", 1),
]

# How much each month sells, relative to an average month: a Christmas peak, summer tourists and
# the September "Foire aux vins".
MONTH_WEIGHT = {1: 0.55, 2: 0.6, 3: 0.8, 4: 0.85, 5: 0.9, 6: 1.0, 7: 1.45, 8: 1.55, 9: 1.35,
                10: 0.9, 11: 1.25, 12: 2.6}  # fmt: skip
TOURIST_MONTH_WEIGHT = {1: 0.15, 2: 0.15, 3: 0.3, 4: 0.6, 5: 0.8, 6: 1.2, 7: 3.5, 8: 4.0, 9: 1.2,
                        10: 0.4, 11: 0.5, 12: 1.4}  # fmt: skip
# Monday..Sunday: the shop is closed on Sunday afternoons and busiest on Saturday (market day).
WEEKDAY_WEIGHT = (0.75, 0.85, 0.9, 0.95, 1.15, 1.6, 0.45)
KIND_SEASON = {
    "rose": {6: 2.2, 7: 2.8, 8: 2.8, 9: 1.4, 12: 0.3, 1: 0.3, 2: 0.4},
    "white": {6: 1.5, 7: 1.8, 8: 1.8},
    "sweet": {11: 1.8, 12: 2.6, 1: 1.2},
    "deli": {11: 2.0, 12: 3.5, 1: 1.2, 7: 0.8, 8: 0.8},
    "truffle": {12: 6.0, 1: 4.0, 2: 3.0, 6: 0.2, 7: 0.2, 8: 0.2},
    "nuts": {10: 2.5, 11: 2.0, 12: 2.0},
    "gift": {11: 2.5, 12: 7.0, 5: 1.3, 6: 1.3, 7: 0.4, 8: 0.4},
    "bib": {6: 1.6, 7: 2.2, 8: 2.2},
}
# Salons where the shop holds a stand: (month, first day, last day) and the channel they feed.
SALONS = [(3, 14, 17), (9, 5, 14), (11, 20, 24)]

CENT = Decimal("0.01")


# --------------------------------------------------------------------------------------------
# Public service
# --------------------------------------------------------------------------------------------


def demo_business_data_exists() -> bool:
    return (
        Contact.objects.exists()
        or Order.objects.exists()
        or Product.objects.exists()
        or MailingList.objects.exists()
    )


def demo_business_data_wipe() -> dict[str, int]:
    """Delete contacts, orders, products, tags and lists (not users, not the audit log).

    Children first so that each delete is a plain DELETE rather than a cascade collected in Python.
    """
    counts: dict[str, int] = {}
    for label, model in (
        ("order_lines", OrderLine),
        ("subscriptions", Subscription),
        ("contact_tags", Contact.tags.through),
        ("orders", Order),
        ("contacts", Contact),
        ("tags", Tag),
        ("lists", MailingList),
        ("products", Product),
        ("websites", Site),
    ):
        counts[label] = model.objects.all().delete()[0]
    return counts


def demo_load(
    *,
    contacts: int = DEFAULT_CONTACTS,
    seed: int = DEFAULT_SEED,
    reference_date: date | None = None,
    reset: bool = False,
    actor: Actor = None,
) -> DemoSummary:
    """Fill the database with the Cave & Terroir demo shop.

    Refuses (DemoDataExists) when business data is already there, unless `reset`, which first
    wipes contacts, orders, products, tags and lists: loading a demo into a real customer base
    would mix invented people with real ones.
    """
    if contacts < 1:
        raise ValueError("contacts must be at least 1")
    started = time.perf_counter()
    today = reference_date or timezone.localdate()
    plan = _DemoPlan(rng=Random(seed), today=today, size=contacts)
    plan.build()
    quality_problems_in_orders(plan.orders, seed=seed)

    with transaction.atomic():
        wiped = None
        if demo_business_data_exists():
            if not reset:
                raise DemoDataExists(
                    "The database already holds contacts, orders, products or lists."
                )
            wiped = demo_business_data_wipe()
        summary_counts = plan.save()
        # Something for the quality page to find (fidele.demo.quality).
        quality_problems_plant(seed=seed, today=today, size=contacts)
        _sign_the_default_layout()
        # The shop's last newsletter and what its readers did (fidele.demo.campaign).
        newsletter = demo_past_campaign_send(today=today, seed=seed, actor=actor)
        # Eight weeks of the shop's website, the newsletter's visitors among them.
        demo_website_traffic(today=today, seed=seed, newsletter=newsletter)
        # The duplicates page shows the planted duplicates without waiting for the nightly
        # search, and the audit counts them.
        duplicates_search()
        # The quality page opens on an audit of the shop, not on an empty page.
        audit_run(trigger=AuditSnapshot.Trigger.DEMO)
        # The customer pages open on the shop's RFM segments and personas.
        rfm_refresh()
        personas_refresh()
        # The overview and the base dynamics open on the shop's figures, not on empty charts
        # (after the RFM refresh, whose segments split the revenue).
        dashboard_data_refresh()
        # A few saved segments, to show what segments are for (fidele.demo.segments).
        demo_segments_create(actor=actor or System(name=DEMO_ACTOR))
        # So does the Customer value page, on the shop's lifetime value and churn.
        clv_refresh(trigger=ClvFit.Trigger.DEMO)
        revenue = sum((order["total"] for order in plan.orders), Decimal("0"))
        summary = DemoSummary(
            **summary_counts,
            revenue=str(revenue),
            seed=seed,
            reference_date=today.isoformat(),
            seconds=round(time.perf_counter() - started, 2),
        )
        # Flat keys, so that the audit log page shows one readable line per figure.
        changes: dict[str, Any] = {
            key: value
            for key, value in summary.as_dict().items()
            if key not in ("revenue", "seconds")
        }
        if wiped:
            changes["wiped"] = wiped
        audit_record(
            actor=actor or System(name=DEMO_ACTOR),
            action=AuditLog.Action.IMPORT,
            object_type="demo",
            object_repr=SHOP_NAME,
            changes=changes,
        )
    return summary


def _sign_the_default_layout() -> None:
    """The shop's name and address in the footer of its emails, as the law asks."""
    from fidele.campaigns.layouts import layout_default
    from fidele.campaigns.services import layout_update

    layout_update(
        layout=layout_default(),
        sender_name=SHOP_NAME,
        sender_postal_address=SHOP_POSTAL_ADDRESS,
    )


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def _weighted(items: list[tuple[Any, ...]], weight_index: int = -1) -> tuple[list, list[float]]:
    cum: list[float] = []
    total = 0.0
    for item in items:
        total += item[weight_index]
        cum.append(total)
    return items, cum


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return "".join(ch for ch in kept if ch.isalnum())


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class _DemoPlan:
    """Draws every row in memory first (fast, deterministic), then writes them in bulk."""

    def __init__(self, *, rng: Random, today: date, size: int):
        self.rng = rng
        self.today = today
        self.size = size
        self.start = today - timedelta(days=HISTORY_DAYS)
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.people: list[dict[str, Any]] = []
        self.orders: list[dict[str, Any]] = []
        self._emails: dict[str, int] = {}
        self._days = [self.start + timedelta(days=i) for i in range(HISTORY_DAYS)]
        self._cum_normal = self._day_cum(MONTH_WEIGHT)
        self._cum_tourist = self._day_cum(TOURIST_MONTH_WEIGHT)
        self._product_cum = self._product_cums()

    # -- calendars ----------------------------------------------------------------------------

    def _day_cum(self, month_weight: dict[int, float]) -> list[float]:
        cum, total = [], 0.0
        for day in self._days:
            weight = month_weight[day.month] * WEEKDAY_WEIGHT[day.weekday()]
            # Christmas shopping ramps up through December until the 24th, then stops dead.
            if day.month == 12:
                weight *= 0.6 + day.day / 15 if day.day <= 24 else 0.35
            total += weight
            cum.append(total)
        return cum

    def _product_cums(self) -> dict[int, list[float]]:
        by_month: dict[int, list[float]] = {}
        for month in range(1, 13):
            cum, total = [], 0.0
            for product in PRODUCTS:
                total += product[5] * KIND_SEASON.get(product[4], {}).get(month, 1.0)
                cum.append(total)
            by_month[month] = cum
        return by_month

    def _pick_day(self, cum: list[float], lo: int, hi: int) -> date:
        """A day in [lo, hi) drawn with the calendar's weights."""
        low = cum[lo - 1] if lo > 0 else 0.0
        u = low + self.rng.random() * (cum[hi - 1] - low)
        index = min(bisect.bisect_right(cum, u, lo, hi), hi - 1)
        return self._days[index]

    # -- people --------------------------------------------------------------------------------

    def build(self) -> None:
        for index in range(self.size):
            self.people.append(self._person(index))
        for person in self.people:
            self._orders_for(person)
        self._finish_people()
        self._plant_duplicates()

    def _plant_duplicates(self) -> None:
        """Make a few of the last people a second record of an earlier one, as a till and a
        web shop would have typed them (a typo, capitals without accents, swapped names, a new
        email address...): the duplicates page has something to show. Their own orders stay,
        so a merge shows them joined. A separate random stream keeps the rest of the shop as
        it was."""
        rng = Random(len(self.people))
        count = min(len(self.people) // 4, max(2, len(self.people) // 150))
        for n in range(count):
            twin = self.people[len(self.people) - 1 - n]
            original = self.people[rng.randrange(0, len(self.people) // 2)]
            kind = n % 5
            first, last = original["first_name"], original["last_name"]
            email = None
            if kind == 0:
                letters = list(last)
                i = rng.randrange(1, len(letters)) if len(letters) > 2 else 0
                letters[i] = letters[i] * 2
                last = "".join(letters)
            elif kind == 1:
                first, last = _ascii(first).upper(), _ascii(last).upper()
                email = self._planted_email(original, str(rng.randint(1950, 1999)))
            elif kind == 2:
                first, last = last, first
            elif kind == 3 and original["email"]:
                local = original["email"].split("@")[0]
                email = self._planted_email(original, "", local=local)
            elif kind == 4 and len(first) > 3:
                first = first[:2] + first[3] + first[2] + first[4:]
            twin.update(
                civility=original["civility"],
                first_name=first,
                last_name=last,
                email=email,
                phone=original["phone"] if kind != 4 else "",
                address=original["address"] if kind in (2, 4) else twin["address"],
                postal_code=original["postal_code"],
                city=original["city"],
                country=original["country"],
                birth_date=original["birth_date"] if kind != 0 else None,
                planted_duplicate_of=original["index"],
            )

    def _planted_email(self, original: dict[str, Any], suffix: str, local: str = "") -> str:
        local = local or f"{_ascii(original['first_name'])}.{_ascii(original['last_name'])}{suffix}"
        local = local.replace(" ", "").replace("'", "")
        for domain in ("laposte.example", "free.example", "orange.example", "sfr.example"):
            email = f"{local}@{domain}"
            if email != original["email"] and email not in self._emails:
                self._emails[email] = 1
                return email
        return f"{local}.{original['index']}@example.com"

    def _choice(self, table: list[tuple[Any, ...]], weight_index: int = -1) -> tuple[Any, ...]:
        items, cum = _weighted(table, weight_index)
        return self.rng.choices(items, cum_weights=cum, k=1)[0]

    def _person(self, index: int) -> dict[str, Any]:
        rng = self.rng
        area_name, _, table, landline = self._choice(AREAS, 1)
        female = rng.random() < 0.54
        country, language, mobile = "FR", "fr", ("+336", "+337")
        foreign_mobile, foreign_digits = "", 0
        if area_name == "abroad":
            country, postal_code, city, _, foreign_mobile, foreign_digits, language = self._choice(
                table, 3
            )
            street = f"{rng.randint(1, 180)} {rng.choice(FOREIGN_STREETS[country])}"
            first, last = self._foreign_name(country, female)
        else:
            postal_code, city, _ = self._choice(table)
            street = self._street(area_name)
            british = area_name == "dordogne" and rng.random() < 0.06
            if british:
                first, last = rng.choice(BRITISH_FIRST), rng.choice(BRITISH_LAST)
                female = first in ("Sarah", "Emma", "Helen", "Susan", "Claire", "Jane")
                language = "en" if rng.random() < 0.8 else "fr"
            else:
                first = rng.choice(FEMALE_FIRST if female else MALE_FIRST)
                last = rng.choice(LAST_NAMES)
        local = area_name in LOCAL_AREAS
        professional = local and rng.random() < 0.045
        tourist = not local and rng.random() < 0.55
        company = None
        if professional:
            company = f"{rng.choice(BUSINESS_PREFIXES)} {rng.choice(BUSINESS_NAMES)}"

        # Phone: most people give a mobile; some a landline; some nothing at all.
        draw = rng.random()
        if area_name == "abroad":
            phone = "" if draw < 0.4 else self._phone(foreign_mobile, foreign_digits)
        elif draw < 0.62:
            phone = self._phone(rng.choice(mobile), 8)
        elif draw < 0.85 or professional:
            phone = self._phone(f"+33{landline}", 8)
        else:
            phone = ""

        age = min(90, max(19, int(rng.gauss(54, 15))))
        birth_date = None
        if rng.random() < 0.72:
            birth_date = self.today - timedelta(days=age * 365 + rng.randint(0, 364))

        # Whether this person buys at all, and from when: old customers, customers won during
        # the two years, and prospects who never bought (salon visitors, newsletter sign-ups).
        kind = rng.random()
        if kind < 0.11:
            buyer, new_customer = False, rng.random() < 0.6
        else:
            buyer, new_customer = True, rng.random() < 0.42
        if new_customer:
            joined = self.start + timedelta(days=rng.randint(0, HISTORY_DAYS - 1))
        else:
            joined = self.start - timedelta(days=rng.randint(30, 12 * 365))

        has_email = rng.random() < (0.97 if (professional or area_name != "dordogne") else 0.84)
        email = self._email(first, last, company, area_name) if has_email else None
        acquisition = "Salon des vins" if rng.random() < 0.03 else self._choice(ACQUISITION)[0]
        if tourist:
            acquisition = rng.choice(["Boutique", "Office de tourisme", "Site web"])
        if professional and company and company.startswith("Comité"):
            acquisition = "Comité d'entreprise"
        attributes: dict[str, Any] = {}
        if rng.random() < 0.78:
            attributes["vin_prefere"] = self._choice(FAVOURITE_WINE)[0]
        attributes["canal_acquisition"] = acquisition
        if company:
            attributes["societe"] = company
        if rng.random() < 0.15:
            attributes["livraison"] = rng.choice(["Retrait en boutique", "Colissimo", "Relais"])

        return {
            "index": index,
            "external_id": None if rng.random() < 0.04 and email else f"CLI-{index + 1:05d}",
            "civility": "Mme" if female else "M",
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": phone,
            "address": street,
            "postal_code": postal_code,
            "city": city,
            "country": country,
            "language": language,
            "birth_date": birth_date,
            "joined_on": joined,
            "source": {"Site web": "site web", "Salon des vins": "salon"}.get(
                acquisition, "boutique"
            ),
            "notes": rng.choice(NOTES) if rng.random() < 0.03 else "",
            "attributes": attributes,
            "area": area_name,
            "local": local,
            "professional": professional,
            "company": company,
            "tourist": tourist,
            "buyer": buyer,
            "new_customer": new_customer,
            "salon_goer": acquisition == "Salon des vins" or rng.random() < 0.15,
            "taster": local and rng.random() < 0.1,
            "revenue": Decimal("0"),
            "order_count": 0,
            "first_order": None,
            "last_order": None,
        }

    def _phone(self, prefix: str, digits: int) -> str:
        """A number that phonenumbers accepts as valid (not every range is allocated)."""
        for _attempt in range(20):
            number = f"{prefix}{self.rng.randint(0, 10**digits - 1):0{digits}d}"
            if phonenumbers.is_valid_number(phonenumbers.parse(number)):
                return number
        return ""

    def _foreign_name(self, country: str, female: bool) -> tuple[str, str]:
        rng = self.rng
        if country == "GB":
            return rng.choice(BRITISH_FIRST), rng.choice(BRITISH_LAST)
        if country == "NL":
            return rng.choice(DUTCH_FIRST), rng.choice(DUTCH_LAST)
        if country == "DE":
            return rng.choice(GERMAN_FIRST), rng.choice(GERMAN_LAST)
        return rng.choice(FEMALE_FIRST if female else MALE_FIRST), rng.choice(LAST_NAMES)

    def _street(self, area: str) -> str:
        rng = self.rng
        if area in LOCAL_AREAS and rng.random() < 0.18:
            return rng.choice(RURAL)
        street_type = self._choice(STREET_TYPES)[0]
        number = rng.randint(1, 140)
        suffix = " bis" if rng.random() < 0.04 else ""
        line = f"{number}{suffix} {street_type} {rng.choice(STREET_NAMES)}"
        if area == "paris" and rng.random() < 0.3:
            line += f", bât. {rng.choice('ABCD')}"
        return line

    def _email(self, first: str, last: str, company: str | None, area: str) -> str:
        rng = self.rng
        f, name = _ascii(first), _ascii(last)
        if company:
            local = rng.choice(["contact", "commandes", f, f"{f}.{name}"])
            domain = f"{_ascii(company.split(' ', 1)[1])[:24]}.example"
        else:
            patterns = [f"{f}.{name}", f"{f[0]}{name}", f"{f}{name}", f"{name}.{f}",
                        f"{f}_{name}", f"{f}.{name}{rng.randint(1, 99)}"]  # fmt: skip
            local = rng.choice(patterns)
            domains = FOREIGN_DOMAINS if area == "abroad" else PERSONAL_DOMAINS
            domain = self._choice(domains)[0]
        email = f"{local}@{domain}"
        if email in self._emails:
            self._emails[email] += 1
            email = f"{local}{self._emails[email]}@{domain}"
        self._emails.setdefault(email, 1)
        return email

    # -- orders --------------------------------------------------------------------------------

    def _orders_for(self, person: dict[str, Any]) -> None:
        if not person["buyer"]:
            return
        rng = self.rng
        # Orders per year: log-normal, so a few customers buy very often (the Pareto shape a
        # shop sees: a fifth of the customers bring most of the revenue).
        rate = rng.lognormvariate(1.2, 1.0)
        if person["professional"]:
            rate *= 2.2
        if person["tourist"]:
            rate *= 0.45
        if person["taster"]:
            rate *= 1.6
        lo = max(0, (person["joined_on"] - self.start).days)
        hi = HISTORY_DAYS
        # About a third of the older customers drift away at some point in the two years.
        if not person["new_customer"] and rng.random() < 0.33:
            hi = rng.randint(30, HISTORY_DAYS - 60)
        elif person["new_customer"] and rng.random() < 0.25:
            hi = min(HISTORY_DAYS, lo + rng.randint(1, 200))
        if hi <= lo:
            hi = min(HISTORY_DAYS, lo + 1)
        years = (hi - lo) / 365
        count = self._poisson(rate * years)
        if person["new_customer"]:
            count = max(count, 1)
        cum = self._cum_tourist if person["tourist"] else self._cum_normal
        days = [self._pick_day(cum, lo, hi) for _ in range(count)]
        if person["new_customer"] and days:
            days[0] = self._days[lo]
        for day in days:
            self.orders.append(self._order(person, day))
        if person["salon_goer"]:
            # Salon visitors come to the shop's stand and buy there, some years.
            for offset in range(lo, hi):
                day = self._days[offset]
                for month, first, last in SALONS:
                    if day.month == month and day.day == first and rng.random() < 0.35:
                        stand_day = day + timedelta(days=rng.randint(0, last - first))
                        if stand_day <= self._days[hi - 1]:
                            self.orders.append(self._order(person, stand_day, channel="salon"))

    def _poisson(self, mean: float) -> int:
        if mean <= 0:
            return 0
        if mean > 40:
            return max(0, round(self.rng.gauss(mean, mean**0.5)))
        # Knuth's method is exact and fast enough for the small means drawn here.
        limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def _channel(self, person: dict[str, Any], day: date) -> str:
        rng = self.rng
        for month, first, last in SALONS:
            at_salon = day.month == month and first <= day.day <= last
            if at_salon and person["salon_goer"] and rng.random() < 0.7:
                return "salon"
        if person["local"]:
            web_share = 0.12 if not person["professional"] else 0.35
        else:
            web_share = 0.85 if day.month not in (7, 8) else 0.3
        return "site web" if rng.random() < web_share else "boutique"

    def _order(
        self, person: dict[str, Any], day: date, channel: str | None = None
    ) -> dict[str, Any]:
        rng = self.rng
        channel = channel or self._channel(person, day)
        if channel == "site web":
            hour, minute = rng.choice([8, 12, 13, 18, 20, 21, 22, 23]), rng.randint(0, 59)
        else:
            hour, minute = rng.randint(9, 18), rng.randint(0, 59)
        ordered_at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.tz)

        n_lines = 1 + min(6, int(rng.expovariate(1.1)))
        if person["professional"]:
            n_lines += rng.randint(1, 3)
        picks = rng.choices(PRODUCTS, cum_weights=self._product_cum[day.month], k=n_lines)
        lines, seen = [], {}
        discount = Decimal("0.85") if person["professional"] else Decimal("1")
        for product in picks:
            sku, name, category, price, kind, _ = product
            quantity = self._quantity(person, kind, day)
            if sku in seen:
                seen[sku]["quantity"] += quantity
                continue
            line = {"sku": sku, "name": name, "category": category, "quantity": quantity,
                    "unit_price": _money(Decimal(price) * discount)}  # fmt: skip
            seen[sku] = line
            lines.append(line)
        total = Decimal("0")
        for line in lines:
            line["line_total"] = _money(line["unit_price"] * line["quantity"])
            total += line["line_total"]
        person["revenue"] += total
        person["order_count"] += 1
        if person["first_order"] is None or day < person["first_order"]:
            person["first_order"] = day
        if person["last_order"] is None or day > person["last_order"]:
            person["last_order"] = day
        return {"person": person["index"], "ordered_at": ordered_at, "channel": channel,
                "total": total, "lines": lines}  # fmt: skip

    def _quantity(self, person: dict[str, Any], kind: str, day: date) -> int:
        rng = self.rng
        if person["professional"]:
            if kind == "gift" and day.month in (11, 12):
                return rng.choice([5, 10, 10, 15, 20])
            if kind in ("red", "white", "rose", "sweet"):
                return rng.choice([6, 6, 6, 12, 12, 12, 24])
            return rng.choice([2, 4, 6, 10])
        if kind in ("red", "white", "rose", "sweet"):
            return rng.choices([1, 2, 3, 6, 12], weights=[42, 30, 13, 12, 3], k=1)[0]
        if kind in ("gift", "truffle"):
            return rng.choices([1, 2, 3], weights=[75, 20, 5], k=1)[0]
        return rng.choices([1, 2, 3, 4], weights=[55, 28, 12, 5], k=1)[0]

    def _finish_people(self) -> None:
        """Tags and consents that depend on what people bought."""
        ranked = sorted(
            (p for p in self.people if p["order_count"]),
            key=lambda p: (-p["revenue"], p["index"]),
        )
        vip_count = max(1, round(len(ranked) * 0.05)) if ranked else 0
        for person in ranked[:vip_count]:
            person["vip"] = True
        for person in self.people:
            person.setdefault("vip", False)
            # Customers won during the two years: "customer since" is their first purchase.
            if person["new_customer"] and person["first_order"] is not None:
                person["joined_on"] = person["first_order"]
            if person["joined_on"] > self.today:
                person["joined_on"] = self.today

    # -- writing -------------------------------------------------------------------------------

    def save(self) -> dict[str, int]:
        rng = self.rng
        tags = Tag.objects.bulk_create([Tag(name=name, color=color) for name, color in TAGS])
        tag_by_name = {tag.name: tag for tag in tags}
        lists = MailingList.objects.bulk_create(
            [MailingList(name=n, description=d, double_opt_in=o) for n, d, o in LISTS]
        )
        list_by_name = {item.name: item for item in lists}
        products = Product.objects.bulk_create(
            [
                Product(sku=sku, name=name, category=category, price=Decimal(price))
                for sku, name, category, price, _kind, _pop in PRODUCTS
            ]
        )
        product_by_sku = {product.sku: product for product in products}

        contact_rows = []
        for person in self.people:
            status = Contact.Status.ACTIVE
            if person["email"]:
                draw = rng.random()
                if draw < 0.012:
                    status = Contact.Status.BOUNCED
                elif draw < 0.015:
                    status = Contact.Status.COMPLAINED
            contact_rows.append(
                Contact(
                    email=person["email"],
                    external_id=person["external_id"],
                    civility=person["civility"],
                    first_name=person["first_name"],
                    last_name=person["last_name"],
                    phone=person["phone"],
                    address=person["address"],
                    postal_code=person["postal_code"],
                    city=person["city"],
                    country=person["country"],
                    language=person["language"],
                    birth_date=person["birth_date"],
                    joined_on=person["joined_on"],
                    source=person["source"],
                    notes=person["notes"],
                    attributes=person["attributes"],
                    status=status,
                )
            )
            person["status"] = status
        contacts = Contact.objects.bulk_create(contact_rows, batch_size=BATCH_SIZE)
        # The custom fields as the till's export headed them (shown on contact pages, exports).
        AttributeLabel.objects.bulk_create(
            [
                AttributeLabel(key="vin_prefere", label="Vin préféré"),
                AttributeLabel(key="canal_acquisition", label="Canal d’acquisition"),
                AttributeLabel(key="societe", label="Société"),
                AttributeLabel(key="livraison", label="Livraison"),
            ],
            ignore_conflicts=True,
        )
        # One customer in forty of the old till system also holds an older loyalty card: the
        # second number an import keeps as the contact's other number (no random draw, so the
        # rest of the shop stays as it was).
        CustomerNumberAlias.objects.bulk_create(
            [
                CustomerNumberAlias(contact_id=contact.pk, number=f"{person['external_id']}-A")
                for index, (person, contact) in enumerate(zip(self.people, contacts, strict=True))
                if index % 40 == 7 and person["email"] and person["external_id"]
            ],
            batch_size=BATCH_SIZE,
        )

        through = Contact.tags.through
        tag_rows = []
        consents: list[tuple[Consent, bool]] = []
        for person, contact in zip(self.people, contacts, strict=True):
            for name in self._tags_of(person):
                tag_rows.append(through(contact_id=contact.pk, tag_id=tag_by_name[name].pk))
            consents.extend(self._subscriptions_of(person, contact, list_by_name))
        through.objects.bulk_create(tag_rows, batch_size=BATCH_SIZE)
        # Consent is written by its owner (contacts.consent), as an import writes it.
        actor = System(name=DEMO_ACTOR)
        subscriptions = subscriptions_add(
            actor=actor, consents=[c for c, waiting in consents if not waiting]
        )
        # Sign-ups still waiting for their double opt-in confirmation.
        subscriptions += subscriptions_add(
            actor=actor,
            consents=[c for c, waiting in consents if waiting],
            status=Subscription.Status.UNCONFIRMED,
        )

        # Order numbers follow time, per channel and year, as a till and a web shop number them.
        self.orders.sort(key=lambda order: (order["ordered_at"], order["person"]))
        sequences: dict[tuple[str, int], int] = {}
        prefixes = {"boutique": "B", "site web": "W", "salon": "S"}
        order_rows = []
        for order in self.orders:
            key = (order["channel"], order["ordered_at"].year)
            sequences[key] = sequences.get(key, 0) + 1
            number = f"{prefixes[order['channel']]}{key[1]}-{sequences[key]:06d}"
            order_rows.append(
                Order(
                    external_id=number,
                    contact_id=contacts[order["person"]].pk,
                    ordered_at=order["ordered_at"],
                    total=order["total"],
                    channel=order["channel"],
                )
            )
        saved_orders = Order.objects.bulk_create(order_rows, batch_size=BATCH_SIZE)
        line_rows = []
        for order, saved in zip(self.orders, saved_orders, strict=True):
            for line in order["lines"]:
                line_rows.append(
                    OrderLine(
                        order_id=saved.pk,
                        product_id=product_by_sku[line["sku"]].pk,
                        sku=line["sku"],
                        product_name=line["name"],
                        category=line["category"],
                        quantity=Decimal(line["quantity"]),
                        unit_price=line["unit_price"],
                        line_total=line["line_total"],
                    )
                )
        OrderLine.objects.bulk_create(line_rows, batch_size=BATCH_SIZE)
        return {
            "contacts": len(contacts),
            "tags": len(tags),
            "lists": len(lists),
            "subscriptions": subscriptions,
            "products": len(products),
            "orders": len(saved_orders),
            "order_lines": len(line_rows),
        }

    def _tags_of(self, person: dict[str, Any]) -> list[str]:
        names = []
        if person["vip"]:
            names.append("VIP")
        if person["professional"]:
            names.append("Professionnel")
            if person["company"].startswith("Comité"):
                names.append("Comité d'entreprise")
        if person["salon_goer"]:
            names.append("Salon des vins")
        if person["taster"] or (person["vip"] and person["local"]):
            names.append("Club dégustation")
        if person["country"] != "FR":
            names.append("Export")
        if person["tourist"]:
            names.append("Touriste")
        if (self.today - person["joined_on"]).days <= 90:
            names.append("Nouveau client")
        return names

    def _consent_time(self, person: dict[str, Any]) -> datetime:
        """A moment between the person becoming a customer and yesterday (never in the future)."""
        earliest = max(person["joined_on"], self.start - timedelta(days=3 * 365))
        span = max(0, (self.today - earliest).days - 1)
        day = earliest + timedelta(days=self.rng.randint(0, span))
        return datetime(day.year, day.month, day.day, self.rng.randint(8, 21),
                        self.rng.randint(0, 59), tzinfo=self.tz)  # fmt: skip

    def _subscriptions_of(
        self, person: dict[str, Any], contact: Contact, lists: dict[str, MailingList]
    ) -> list[tuple[Consent, bool]]:
        if not person["email"]:
            return []
        rng = self.rng
        rows = []
        wants_newsletter = rng.random() < (0.72 if person["order_count"] else 0.8)
        if wants_newsletter:
            rows.append(self._subscription(person, contact, lists["Newsletter"], newsletter=True))
        if (person["taster"] or person["vip"]) and rng.random() < 0.85:
            rows.append(self._subscription(person, contact, lists["Offres club"]))
        if person["professional"] and rng.random() < 0.9:
            rows.append(self._subscription(person, contact, lists["Professionnels"]))
        return rows

    def _subscription(
        self,
        person: dict[str, Any],
        contact: Contact,
        mailing_list: MailingList,
        newsletter: bool = False,
    ) -> tuple[Consent, bool]:
        """One consent with its proof, and whether it waits for its double opt-in confirmation."""
        rng = self.rng
        consent_at = self._consent_time(person)
        unconfirmed = False
        withdrawal = None
        draw = rng.random()
        if person.get("status") in (Contact.Status.COMPLAINED,) or draw < 0.07:
            delay = timedelta(days=rng.randint(5, 400), hours=rng.randint(0, 12))
            withdrawal = Withdrawal(
                source="page", at=min(consent_at + delay, self._now_at_reference())
            )
        elif newsletter and draw < 0.10:
            unconfirmed = True

        # The proof a CNIL inspector would ask for: how, when and where consent was given.
        if newsletter and person["source"] == "site web":
            ip = f"203.0.113.{rng.randint(1, 254)}"
            confirmed = None if unconfirmed else consent_at + timedelta(minutes=rng.randint(1, 240))
            proof = ConsentProof(
                method=Method.FORM,
                at=consent_at,
                form="Inscription newsletter, site web",
                url="https://cave-et-terroir.example/newsletter",
                ip=ip,
                wording="J'accepte de recevoir la newsletter de Cave & Terroir.",
                confirmed_at=confirmed,
            )
        elif not person["new_customer"] and rng.random() < 0.5:
            proof = ConsentProof(
                method=Method.IMPORT,
                at=consent_at,
                file="clients_caisse_2023.xlsx",
                row=person["index"] + 2,
                user="claire",
                note="Newsletter = Oui",
            )
        else:
            note = "Bulletin d'inscription signé en boutique"
            collected_by = rng.choice(["Claire", "Julien", "Maëlle"])
            if person["salon_goer"] and rng.random() < 0.5:
                note = "Carte remplie sur le stand du salon des vins"
            proof = ConsentProof(method=Method.MANUAL, at=consent_at, user=collected_by, note=note)
        if unconfirmed:
            # Signed up on the site; the confirmation email was sent at `consent_at`.
            proof = ConsentProof(
                method=Method.FORM,
                at=consent_at,
                form="Inscription newsletter, site web",
                url="https://cave-et-terroir.example/newsletter",
                ip=f"198.51.100.{rng.randint(1, 254)}",
            )
        return Consent(contact.pk, mailing_list.pk, proof, withdrawal=withdrawal), unconfirmed

    def _now_at_reference(self) -> datetime:
        day = self.today - timedelta(days=1)
        return datetime(day.year, day.month, day.day, 23, 59, tzinfo=self.tz)
