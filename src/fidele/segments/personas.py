"""Personas: groups of customers who behave alike, found by k-means, each described in plain
words by what sets it apart from the whole base.

Behaviour, one row per scored customer (ContactRfm), read by one query (insight_sql):
days since the last order, orders a year, money spent, average basket, the share of their
spend in each of the largest product categories, the share of their orders in November-December
and in July-August, their human opens and clicks of the last year. Counts and amounts are
taken as logarithms (a customer with 40 orders is not twenty times one with 2), then every
column is standardised (mean 0, standard deviation 1) so that none weighs more for its unit.

k is chosen between 3 and 8 by the silhouette (how much closer customers are to their own
group than to the next), measured on a fixed sample of at most SILHOUETTE_SAMPLE customers;
the model kept is then fitted on all of them (a fixed sample above FIT_SAMPLE). Rows come in
contact-id order and every random draw has a fixed seed: the same base gives the same personas.

Stored as a whole in one transaction (Persona and ContactPersona). A new group that holds most
of an old persona's members, and most of whose members were in it, keeps that persona's id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.segments import insight_sql
from fidele.segments.models import ContactPersona, Persona

SEED = 20_260_601
K_MIN, K_MAX = 3, 8
SILHOUETTE_SAMPLE = 4_000
FIT_SAMPLE = 200_000
# Below this many customers, groups would be a handful of people each: no personas.
MIN_CUSTOMERS = 40
MAX_CATEGORIES = 5
EVENTS_DAYS = 365
# How far (in standard deviations of the whole base) a group's average must be from the base's
# for the trait to describe it; at most MAX_TRAITS traits, the most distinctive first.
TRAIT_THRESHOLD = 0.5
MAX_TRAITS = 3


@dataclass
class Behaviour:
    """The customers' behaviour: `figures` in plain units (for descriptions), `columns` the
    transformed values k-means sees (before standardising), both one row per contact id."""

    contact_ids: np.ndarray
    categories: list[str]
    figures: dict[str, np.ndarray]
    columns: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        return len(self.contact_ids)


def behaviour_load(*, now: datetime) -> Behaviour:
    """Read every scored customer's behaviour from the database (one query, contact-id order)."""
    categories = [name for name, _total in insight_sql.categories_by_revenue() if name][
        :MAX_CATEGORIES
    ]
    rows = insight_sql.persona_features(
        now=now, categories=categories, events_since=now - timedelta(days=EVENTS_DAYS)
    )
    n_cat = len(categories)
    if not rows:
        empty = np.zeros(0)
        return Behaviour(np.zeros(0, dtype=np.int64), categories, {}, {"": empty})
    data = np.array(
        [[float(v) if v is not None else np.nan for v in row] for row in rows], dtype=float
    )
    contact_ids = data[:, 0].astype(np.int64)
    recency, frequency, monetary, tenure, holiday, summer, lines_total = (
        data[:, i] for i in range(1, 8)
    )
    category_totals = data[:, 8 : 8 + n_cat]
    opens, clicks, engaged_days = data[:, 8 + n_cat], data[:, 9 + n_cat], data[:, 10 + n_cat]

    # A customer's first year counts as a whole year: one order last month is "once a year".
    orders_per_year = frequency * 365.0 / np.maximum(365.0, tenure)
    basket = monetary / frequency
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(lines_total[:, None] > 0, category_totals / lines_total[:, None], 0.0)
    figures: dict[str, np.ndarray] = {
        "recency_days": recency,
        "orders_per_year": orders_per_year,
        "frequency": frequency,
        "monetary": monetary,
        "basket": basket,
        "holiday_share": holiday / frequency,
        "summer_share": summer / frequency,
        "interactions": opens + clicks,
        "engaged": (~np.isnan(engaged_days) & (np.nan_to_num(engaged_days, nan=1e9) <= 365)).astype(
            float
        ),
    }
    columns: dict[str, np.ndarray] = {
        "recency": np.log1p(recency),
        "orders_per_year": np.log1p(orders_per_year),
        "monetary": np.log1p(np.maximum(monetary, 0)),
        "basket": np.log1p(np.maximum(basket, 0)),
        "holiday": holiday / frequency,
        "summer": summer / frequency,
        "engagement": np.log1p(opens + clicks),
    }
    for index in range(n_cat):
        figures[f"category_share:{index}"] = shares[:, index]
        columns[f"category:{index}"] = shares[:, index]
    return Behaviour(contact_ids, categories, figures, columns)


def standardise(columns: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """The columns that vary, each as z-scores; (their names, the n x d matrix)."""
    names, values = [], []
    for name, column in columns.items():
        std = float(np.std(column))
        if std > 1e-9:
            names.append(name)
            values.append((column - float(np.mean(column))) / std)
    if not values:
        return [], np.zeros((len(next(iter(columns.values()))), 0))
    return names, np.column_stack(values)


def _sample(n: int, size: int) -> np.ndarray:
    """A fixed sample of `size` row indexes out of `n` (all of them when n <= size), sorted."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(SEED).choice(n, size=size, replace=False))


def k_choose(matrix: np.ndarray) -> tuple[int, dict[int, float]]:
    """The number of groups between K_MIN and K_MAX with the best silhouette on a sample
    (a tie goes to the fewer groups); returns it and every k's silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    sample = matrix[_sample(len(matrix), SILHOUETTE_SAMPLE)]
    scores: dict[int, float] = {}
    for k in range(K_MIN, min(K_MAX, len(sample) - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=4, random_state=SEED).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            continue
        scores[k] = round(float(silhouette_score(sample, labels)), 6)
    if not scores:
        return K_MIN, scores
    best = max(scores.values())
    return min(k for k, score in scores.items() if score == best), scores


def clusters_fit(matrix: np.ndarray, k: int) -> np.ndarray:
    """Each row's group (0..k-1), from k-means fitted on all rows (a fixed sample above
    FIT_SAMPLE)."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=4, random_state=SEED)
    model.fit(matrix[_sample(len(matrix), FIT_SAMPLE)])
    return model.predict(matrix)


# --- what a group is like --------------------------------------------------------------------


def _pooled(figures: dict[str, np.ndarray], mask: np.ndarray, categories: list[str]) -> dict:
    """Key figures of the customers in `mask`, in plain units. Medians and averages of each
    customer's own figures, as k-means sees them: a few professionals' orders would otherwise
    make every basket look large and every share look like theirs."""

    def median(name: str, digits: int) -> float:
        return round(float(np.median(figures[name][mask])), digits)

    def mean(name: str) -> float:
        return round(float(np.mean(figures[name][mask])), 3)

    return {
        "customers": int(mask.sum()),
        "revenue": round(float(figures["monetary"][mask].sum()), 2),
        "recency_days": int(round(float(np.median(figures["recency_days"][mask])))),
        "orders_per_year": median("orders_per_year", 1),
        "orders": median("frequency", 1),
        "basket": median("basket", 2),
        "monetary": median("monetary", 2),
        "holiday_share": mean("holiday_share"),
        "summer_share": mean("summer_share"),
        "engaged_share": mean("engaged"),
        "category_shares": [mean(f"category_share:{i}") for i in range(len(categories))],
    }


def traits_of(centroid: dict[str, float]) -> list[dict[str, Any]]:
    """The group's distinctive traits: the columns whose average over the group is at least
    TRAIT_THRESHOLD standard deviations from the base's, the furthest first."""
    ranked = sorted(
        (
            (abs(z), name, "high" if z > 0 else "low")
            for name, z in centroid.items()
            if abs(z) >= TRAIT_THRESHOLD
        ),
        key=lambda item: (-item[0], item[1]),
    )
    return [
        {"feature": name, "direction": direction, "z": round(z, 2)}
        for z, name, direction in ranked[:MAX_TRAITS]
    ]


# --- the refresh -------------------------------------------------------------------------------


@dataclass
class PersonaRefresh:
    customers: int
    k: int
    silhouettes: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0


def personas_refresh(*, now: datetime | None = None) -> PersonaRefresh:
    """Find the personas of the scored customers again and replace the stored ones (run after
    the RFM refresh, which it reads). With fewer than MIN_CUSTOMERS customers, none."""
    started = time.perf_counter()
    now = now or timezone.now()
    behaviour = behaviour_load(now=now)
    n = behaviour.size
    if n < MIN_CUSTOMERS:
        with transaction.atomic():
            insight_sql.personas_lock()
            insight_sql.personas_assign(rows=[])
            Persona.objects.all().delete()
        return PersonaRefresh(customers=n, k=0, seconds=round(time.perf_counter() - started, 3))

    names, matrix = standardise(behaviour.columns)
    k, silhouettes = k_choose(matrix)
    labels = clusters_fit(matrix, k)

    groups = []
    base = _pooled(behaviour.figures, np.ones(n, dtype=bool), behaviour.categories)
    for label in range(k):
        mask = labels == label
        if not mask.any():
            continue
        centroid = {name: float(matrix[mask, i].mean()) for i, name in enumerate(names)}
        figures = _pooled(behaviour.figures, mask, behaviour.categories)
        figures["base"] = base
        figures["categories"] = behaviour.categories
        figures["silhouette"] = silhouettes.get(k)
        groups.append((label, mask, figures, traits_of(centroid)))
    # Persona 1 brings the most revenue.
    groups.sort(key=lambda g: (-g[2]["revenue"], -g[2]["customers"], g[0]))

    with transaction.atomic():
        insight_sql.personas_lock()
        kept_ids = _ids_to_keep(behaviour.contact_ids, [g[1] for g in groups])
        personas = []
        for number, (_label, mask, figures, traits) in enumerate(groups, start=1):
            values = {
                "number": number,
                "customers": int(mask.sum()),
                "revenue": Decimal(str(figures["revenue"])).quantize(Decimal("0.01")),
                "figures": figures,
                "traits": traits,
                "computed_at": now,
            }
            kept = kept_ids.get(number - 1)
            if kept is not None:
                Persona.objects.filter(pk=kept).update(**values)
                personas.append(kept)
            else:
                personas.append(Persona.objects.create(**values).pk)
        persona_of_label = {g[0]: pk for g, pk in zip(groups, personas, strict=True)}
        insight_sql.personas_assign(
            rows=(
                (int(contact_id), persona_of_label[int(label)])
                for contact_id, label in zip(behaviour.contact_ids, labels, strict=True)
            )
        )
        Persona.objects.exclude(pk__in=personas).delete()
    return PersonaRefresh(
        customers=n, k=k, silhouettes=silhouettes, seconds=round(time.perf_counter() - started, 3)
    )


def _ids_to_keep(contact_ids: np.ndarray, masks: list[np.ndarray]) -> dict[int, int]:
    """{index of a new group: id of the old persona it continues}: the old persona holding
    more than half of the new group's members, when more than half of its own members are in
    the new group (so each old persona continues at most one new group, and the other way)."""
    old = list(ContactPersona.objects.order_by("contact_id").values_list("contact_id", "persona"))
    if not old:
        return {}
    old_contacts = np.array([row[0] for row in old], dtype=np.int64)
    old_personas = np.array([row[1] for row in old], dtype=np.int64)
    old_sizes = {
        int(p): int(c) for p, c in zip(*np.unique(old_personas, return_counts=True), strict=True)
    }
    position = np.searchsorted(old_contacts, contact_ids)
    position = np.minimum(position, len(old_contacts) - 1)
    known = old_contacts[position] == contact_ids
    kept: dict[int, int] = {}
    for index, mask in enumerate(masks):
        members = known & mask
        if not members.any():
            continue
        personas, counts = np.unique(old_personas[position[members]], return_counts=True)
        best = int(np.argmax(counts))
        persona, overlap = int(personas[best]), int(counts[best])
        if overlap * 2 > int(mask.sum()) and overlap * 2 > old_sizes[persona]:
            kept[index] = persona
    return kept


# --- descriptions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaText:
    title: str
    traits: list[str]
    figures: str


def persona_describe(persona: Persona) -> PersonaText:
    """The persona in the reader's language: a short title from its most distinctive trait,
    its traits as phrases with their figures beside the whole base's, and its key figures."""
    from fidele.ui.formatting import format_money, format_number

    figures = persona.figures or {}
    base = figures.get("base") or {}
    categories = figures.get("categories") or []
    phrases, titles = [], []
    for trait in persona.traits or []:
        text = _trait_text(trait, figures, base, categories)
        if text is not None:
            phrases.append(text[0])
            titles.append((trait["direction"], text[1]))
    title = next((t for d, t in titles if d == "high"), titles[0][1] if titles else "")
    if not title:
        title = _("Customers like most others")
    key = _(
        "Medians: %(orders)s orders a year, last order %(days)s days ago, %(basket)s per "
        "order, %(monetary)s spent in all."
    ) % {
        "orders": format_number(figures.get("orders_per_year"), 1),
        "days": format_number(figures.get("recency_days"), 0),
        "basket": format_money(figures.get("basket")),
        "monetary": format_money(figures.get("monetary")),
    }
    return PersonaText(title=title, traits=phrases, figures=key)


def _trait_text(
    trait: dict[str, Any], figures: dict, base: dict, categories: list[str]
) -> tuple[str, str] | None:
    """(phrase, short title) of one trait, or None for a feature this version does not know."""
    from fidele.ui.formatting import format_money, format_number, format_rate

    feature, high = trait.get("feature", ""), trait.get("direction") == "high"
    if feature.startswith("category:"):
        index = int(feature.split(":", 1)[1])
        if index >= len(categories):
            return None
        values = {
            "category": categories[index],
            "share": format_rate(_at(figures.get("category_shares"), index)),
            "base": format_rate(_at(base.get("category_shares"), index)),
        }
        if high:
            return (
                _("buy mostly “%(category)s” (%(share)s of their spend; all: %(base)s)") % values,
                _("Fond of “%(category)s”") % values,
            )
        return (
            _("buy little “%(category)s” (%(share)s of their spend; all: %(base)s)") % values,
            _("Little “%(category)s”") % values,
        )
    texts: dict[str, tuple[Any, Any, Any, Any, str, Any]] = {
        # feature: (high phrase, high title, low phrase, low title, figure key, formatter)
        "recency": (
            _("have not ordered for a long time (last order %(value)s days ago; all: %(base)s)"),
            _("Drifting away"),
            _("ordered recently (last order %(value)s days ago; all: %(base)s)"),
            _("Recent customers"),
            "recency_days",
            lambda v: format_number(v, 0),
        ),
        "orders_per_year": (
            _("buy often (%(value)s orders a year; all: %(base)s)"),
            _("Regulars"),
            _("buy rarely (%(value)s orders a year; all: %(base)s)"),
            _("Occasional buyers"),
            "orders_per_year",
            lambda v: format_number(v, 1),
        ),
        "monetary": (
            _("spend a lot (%(value)s each in all; all: %(base)s)"),
            _("Big spenders"),
            _("spend little (%(value)s each in all; all: %(base)s)"),
            _("Small spenders"),
            "monetary",
            format_money,
        ),
        "basket": (
            _("fill large baskets (%(value)s per order; all: %(base)s)"),
            _("Large baskets"),
            _("fill small baskets (%(value)s per order; all: %(base)s)"),
            _("Small baskets"),
            "basket",
            format_money,
        ),
        "holiday": (
            _("buy around Christmas (%(value)s of orders in Nov.-Dec.; all: %(base)s)"),
            _("Christmas shoppers"),
            _("seldom buy at Christmas (%(value)s of orders in Nov.-Dec.; all: %(base)s)"),
            _("Outside Christmas"),
            "holiday_share",
            format_rate,
        ),
        "summer": (
            _("buy in summer (%(value)s of orders in July-August; all: %(base)s)"),
            _("Summer customers"),
            _("seldom buy in summer (%(value)s of orders in July-August; all: %(base)s)"),
            _("Outside summer"),
            "summer_share",
            format_rate,
        ),
        "engagement": (
            _("read your emails (%(value)s opened or clicked this year; all: %(base)s)"),
            _("Email readers"),
            _("seldom read your emails (%(value)s opened or clicked this year; all: %(base)s)"),
            _("Not reading emails"),
            "engaged_share",
            format_rate,
        ),
    }
    if feature not in texts:
        return None
    high_phrase, high_title, low_phrase, low_title, key, formatter = texts[feature]
    values = {"value": formatter(figures.get(key)), "base": formatter(base.get(key))}
    if high:
        return high_phrase % values, str(high_title)
    return low_phrase % values, str(low_title)


def _at(values: Any, index: int) -> float | None:
    try:
        return float(values[index])
    except (TypeError, IndexError, ValueError):
        return None


def persona_sentence(text: PersonaText) -> str:
    """The traits as one sentence: "Buy mostly …, buy around Christmas …"."""
    if not text.traits:
        return ""
    sentence = ", ".join(text.traits)
    return sentence[:1].upper() + sentence[1:] + "."
