"""The audit's findings, named once: their stable codes (a contract read by outside checks, see
DESIGN.md), what each is called and means, its weight in the score, and the action the
improvement plan proposes. The score and the plan are computed here from a snapshot's counts,
in the reader's language, so that the stored snapshot holds numbers only.

The score is the weighted share of what is right: each component counts the contacts (orders for
`order_outlier`) it concerns among those it applies to (its population: contacts, contacts with
an email, with a phone, orders), and loses `weight x share` of the 100 points. A component whose
population is empty, or that was not measured (`email_no_mx` until the mail servers are looked
up), is left out and the other weights are scaled up to 100.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, ngettext_lazy, pgettext_lazy

# Populations a share is taken of.
CONTACTS, EMAILS, PHONES, ORDERS = "contacts", "emails", "phones", "orders"


@dataclass(frozen=True)
class Finding:
    code: str
    label: Promise
    # What it means and why it matters, in a sentence a shop owner reads next to the number.
    explanation: Promise
    # The plan's action, with %(count)s (singular and plural).
    action: Promise
    weight: int
    population: str
    # Whether the contacts list can show exactly these contacts (?quality=CODE).
    listable: bool = True


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "email_invalid",
        gettext_lazy("Invalid email addresses"),
        gettext_lazy(
            "Addresses that cannot exist as written (a missing or doubled @, a space, a domain "
            "that cannot receive email): every message to them is lost."
        ),
        ngettext_lazy(
            "Correct or remove %(count)s invalid address",
            "Correct or remove %(count)s invalid addresses",
            "count",
        ),
        12,
        EMAILS,
    ),
    Finding(
        "email_domain_typo",
        gettext_lazy("Mistyped email domains"),
        gettext_lazy(
            "Addresses whose domain is a letter or two away from a common one (gmial.com for "
            "gmail.com, orange.ff for orange.fr): the message bounces or reaches a stranger."
        ),
        ngettext_lazy(
            "Correct %(count)s address with a mistyped domain",
            "Correct %(count)s addresses with a mistyped domain",
            "count",
        ),
        10,
        EMAILS,
    ),
    Finding(
        "email_disposable",
        gettext_lazy("Disposable addresses"),
        gettext_lazy(
            "Throwaway inboxes (yopmail, jetable...) that nobody reads after a few minutes: "
            "mailing them only harms your reputation with mailbox providers."
        ),
        ngettext_lazy(
            "Suppress %(count)s disposable address",
            "Suppress %(count)s disposable addresses",
            "count",
        ),
        5,
        EMAILS,
    ),
    Finding(
        "email_role",
        gettext_lazy("Generic addresses"),
        gettext_lazy(
            "Addresses of a function rather than a person (contact@, info@, commandes@...): "
            "read by whoever opens the box, they are filtered more often as spam."
        ),
        ngettext_lazy(
            "Ask %(count)s contact with a generic address for a personal one",
            "Ask %(count)s contacts with a generic address for a personal one",
            "count",
        ),
        4,
        EMAILS,
    ),
    Finding(
        "email_no_mx",
        gettext_lazy("Domains that receive no email"),
        gettext_lazy(
            "Addresses whose domain has no mail server, as the internet's directory (DNS) "
            "answered when it was last asked: messages to them cannot be delivered."
        ),
        ngettext_lazy(
            "Correct or remove %(count)s address whose domain receives no email",
            "Correct or remove %(count)s addresses whose domain receives no email",
            "count",
        ),
        6,
        EMAILS,
    ),
    Finding(
        "phone_invalid",
        gettext_lazy("Unreadable phone numbers"),
        gettext_lazy(
            "Numbers that could not be read, or that do not exist in their country; the value "
            "as typed is kept on the contact so that it can be corrected."
        ),
        ngettext_lazy(
            "Correct %(count)s unreadable phone number",
            "Correct %(count)s unreadable phone numbers",
            "count",
        ),
        5,
        PHONES,
    ),
    Finding(
        "consent_missing",
        gettext_lazy("Email without consent"),
        gettext_lazy(
            "Contacts with an email address who are on no list: you may not send them "
            "newsletters until they agree. Your existing customers may be asked once (a "
            "consent request about products like those they bought); others through your "
            "sign-up form."
        ),
        ngettext_lazy(
            "Ask %(count)s contact for their consent",
            "Ask %(count)s contacts for their consent",
            "count",
        ),
        18,
        EMAILS,
    ),
    Finding(
        "stale",
        gettext_lazy("Inactive contacts"),
        gettext_lazy(
            "Contacts who have not ordered, signed up, opened or clicked an email for a long "
            "time: send them a win-back offer, or archive them before they turn into bounces "
            "and spam complaints."
        ),
        ngettext_lazy(
            "Win back or archive %(count)s inactive contact",
            "Win back or archive %(count)s inactive contacts",
            "count",
        ),
        10,
        CONTACTS,
    ),
    Finding(
        "birth_date_outlier",
        gettext_lazy("Implausible birth dates"),
        gettext_lazy(
            "Birth dates that make a customer younger than 15 or older than 110: usually a "
            "typo, or a placeholder date (01/01/1900)."
        ),
        ngettext_lazy(
            "Check %(count)s implausible birth date",
            "Check %(count)s implausible birth dates",
            "count",
        ),
        3,
        CONTACTS,
    ),
    Finding(
        "date_in_future",
        gettext_lazy("Dates in the future"),
        gettext_lazy(
            "A birth date, a “customer since” date or an order dated after today: a typo in "
            "the year, or a day and month swapped."
        ),
        ngettext_lazy(
            "Correct the dates of %(count)s contact",
            "Correct the dates of %(count)s contacts",
            "count",
        ),
        3,
        CONTACTS,
    ),
    Finding(
        "order_outlier",
        gettext_lazy("Unusual orders"),
        gettext_lazy(
            "Orders whose total or quantity is far from your usual ones, judged on your own "
            "orders (and at least ten times larger or smaller than the typical one): often a "
            "misplaced comma. Listed for you to check; nothing is deleted."
        ),
        ngettext_lazy(
            "Review %(count)s unusual order",
            "Review %(count)s unusual orders",
            "count",
        ),
        2,
        ORDERS,
        listable=False,
    ),
    Finding(
        "duplicate",
        gettext_lazy("Likely duplicates"),
        gettext_lazy(
            "Contacts who seem to be the same person entered twice: they receive each email "
            "twice and their orders are split between two records."
        ),
        ngettext_lazy(
            "Merge %(count)s likely duplicate",
            "Merge %(count)s likely duplicates",
            "count",
        ),
        12,
        CONTACTS,
        listable=False,
    ),
)
BY_CODE: dict[str, Finding] = {finding.code: finding for finding in FINDINGS}
CODES: tuple[str, ...] = tuple(BY_CODE)

# The score's one component that is no finding: contacts without an email cannot be mailed.
EMAIL_COVERAGE_WEIGHT = 10

# The completeness bars, in the order shown; the names are the report's `fields` keys.
FIELDS: tuple[tuple[str, Promise], ...] = (
    ("email", gettext_lazy("Email")),
    ("consent", pgettext_lazy("completeness", "Consent to emails")),
    ("name", gettext_lazy("Name")),
    ("phone", gettext_lazy("Phone")),
    ("address", gettext_lazy("Postal address")),
    ("postal_code", gettext_lazy("Postal code")),
    ("birth_date", gettext_lazy("Birth date")),
)


@dataclass(frozen=True)
class Component:
    """One part of the score: what it measures, its weight, and the points it costs."""

    code: str
    label: str
    weight: int
    share_bad: float
    points_lost: float


def _share(count: int, population: int) -> float:
    return count / population if population else 0.0


def score_components(
    *, findings: Iterable[Mapping[str, Any]], populations: Mapping[str, int]
) -> list[Component]:
    """The measured components with their points lost (summing, with the score, to 100)."""
    parts: list[tuple[str, str, int, float]] = []
    if populations.get(CONTACTS):
        missing = populations[CONTACTS] - populations.get(EMAILS, 0)
        parts.append(
            (
                "email_coverage",
                _("Contacts without an email"),
                EMAIL_COVERAGE_WEIGHT,
                _share(missing, populations[CONTACTS]),
            )
        )
    for row in findings:
        finding = BY_CODE.get(row.get("code", ""))
        if finding is None or not row.get("measured", True):
            continue
        population = populations.get(finding.population, 0)
        if not population:
            continue
        parts.append(
            (
                finding.code,
                str(finding.label),
                finding.weight,
                min(1.0, _share(int(row.get("count") or 0), population)),
            )
        )
    total_weight = sum(weight for _code, _label, weight, _bad in parts)
    return [
        Component(code, label, weight, bad, 100 * weight * bad / total_weight)
        for code, label, weight, bad in parts
    ]


def score_of(components: Iterable[Component]) -> float:
    """100 less the points lost, to one decimal; 100 when nothing could be measured."""
    return round(max(0.0, 100 - sum(c.points_lost for c in components)), 1)


def score_sentence(score: float, components: list[Component], contacts: int) -> str:
    """The score said in words, with what costs it the most."""
    if not contacts:
        return _("There is no contact to audit yet: import your customer file to see its score.")
    if score >= 90:
        verdict = _("Your customer file is in excellent shape: %(score)s out of 100.")
    elif score >= 75:
        verdict = _("Your customer file is in good shape: %(score)s out of 100.")
    elif score >= 50:
        verdict = _("Your customer file needs some care: %(score)s out of 100.")
    else:
        verdict = _("Your customer file needs a clean-up: %(score)s out of 100.")
    from fidele.ui.formatting import format_number

    text = verdict % {"score": format_number(round(score))}
    worst = [c for c in sorted(components, key=lambda c: -c.points_lost) if c.points_lost >= 0.5]
    if not worst:
        return text + " " + _("Nothing in it costs a point worth mentioning.")
    named = ", ".join(
        ngettext("%(what)s (%(points)s point)", "%(what)s (%(points)s points)", points)
        % {"what": c.label.lower(), "points": format_number(points)}
        for c in worst[:3]
        if (points := max(1, round(c.points_lost)))
    )
    return text + " " + _("It loses the most on: %(list)s.") % {"list": named}


@dataclass(frozen=True)
class PlanAction:
    code: str
    count: int
    action: str
    points: float


def plan_of(
    *, findings: Iterable[Mapping[str, Any]], components: Iterable[Component]
) -> list[PlanAction]:
    """The improvement plan: one action per finding with something to do, the one that would
    win back the most points first (then the one that concerns the most contacts)."""
    points = {c.code: c.points_lost for c in components}
    actions = []
    for row in findings:
        finding = BY_CODE.get(row.get("code", ""))
        count = int(row.get("count") or 0)
        if finding is None or count <= 0 or not row.get("measured", True):
            continue
        actions.append(
            PlanAction(
                code=finding.code,
                count=count,
                action=str(finding.action % {"count": count}),
                points=round(points.get(finding.code, 0.0), 1),
            )
        )
    actions.sort(key=lambda a: (-a.points, -a.count, CODES.index(a.code)))
    return actions


def change_lines(
    current: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """What changed between two snapshots' figures ({"score", "contacts", "counts": {code: n}}):
    the score, the number of contacts, then every finding whose count moved."""
    if previous is None:
        return []
    lines = [
        {
            "what": _("Score"),
            "before": previous["score"],
            "after": current["score"],
            "better": current["score"] >= previous["score"],
        },
    ]
    if current["contacts"] != previous["contacts"]:
        lines.append(
            {
                "what": _("Contacts"),
                "before": previous["contacts"],
                "after": current["contacts"],
                "better": None,
            }
        )
    for line in lines:
        line["delta"] = round(line["after"] - line["before"], 1)
    for code in CODES:
        before = previous["counts"].get(code)
        after = current["counts"].get(code)
        if before is None or after is None or before == after:
            continue
        lines.append(
            {
                "what": str(BY_CODE[code].label),
                "before": before,
                "after": after,
                "better": after < before,
                "delta": after - before,
            }
        )
    return lines
