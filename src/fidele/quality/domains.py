"""What an email's domain and local part say about the address, judged once per distinct value.

A base of a million contacts holds a few thousand distinct domains: the audit groups the
addresses by domain in the database and judges each domain here, in Python, once. Nothing here
reads the database.

- A likely typo: a rare domain one or two keystrokes away from a domain French customers use
  (`REFERENCE_DOMAINS`) or from one that is common in this base ("gmial.com" -> "gmail.com",
  "wanadoo.frr" -> "wanadoo.fr"), found by edit distance (a swap of two neighbours counts as
  one edit), not by a list of known typos.
- Disposable: on the `disposable-email-domains` list (a maintained blocklist), the domain or
  one of its parents.
- Role: a local part that names a function, not a person (contact@, info@, commandes@...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from disposable_email_domains import blocklist as _DISPOSABLE

from fidele.contacts.normalize import email_domain_valid

# The mailbox providers of French customers (and of their neighbours), most used first: a typo
# is corrected towards the first of equally near ones. Every domain here is real and is never
# judged a typo itself (orange.com and laposte.fr are companies' own domains, mail.com a
# provider: they would otherwise be "one letter away" from orange.fr, laposte.net, gmail.com).
REFERENCE_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "orange.fr",
    "hotmail.fr",
    "yahoo.fr",
    "free.fr",
    "wanadoo.fr",
    "laposte.net",
    "sfr.fr",
    "outlook.fr",
    "hotmail.com",
    "live.fr",
    "icloud.com",
    "neuf.fr",
    "aol.com",
    "yahoo.com",
    "outlook.com",
    "bbox.fr",
    "numericable.fr",
    "club-internet.fr",
    "aliceadsl.fr",
    "cegetel.net",
    "noos.fr",
    "voila.fr",
    "me.com",
    "mac.com",
    "msn.com",
    "live.com",
    "gmx.fr",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "protonmail.com",
    "proton.me",
    "aol.fr",
    "libertysurf.fr",
    "tiscali.fr",
    "9online.fr",
    "skynet.be",
    "hotmail.be",
    "live.be",
    "telenet.be",
    "bluewin.ch",
    "hispeed.ch",
    "hotmail.co.uk",
    "yahoo.co.uk",
    "btinternet.com",
    "web.de",
    "t-online.de",
    "orange.com",
    "laposte.fr",
    "mail.com",
    "ymail.com",
    "googlemail.com",
)
_REFERENCE_SET = frozenset(REFERENCE_DOMAINS)

# A domain of this base counts as "common" (a typo may be corrected towards it) from this many
# addresses. A typo holds at most TYPO_MAX_RATIO of the addresses of the domain it misspells (a
# domain nearly as common as its neighbour is a real one: two firms' domains can differ by a
# letter), or up to TYPO_ALWAYS_UP_TO addresses near a published domain this base barely uses.
COMMON_MIN_ADDRESSES = 20
TYPO_MAX_RATIO = 0.05
TYPO_ALWAYS_UP_TO = 3

# Local parts that name a function rather than a person, in French and English: mail to them
# reaches whoever reads the box that day, and spam filters treat them with suspicion.
ROLE_LOCAL_PARTS: tuple[str, ...] = (
    "abuse",
    "accueil",
    "admin",
    "administrateur",
    "administration",
    "billing",
    "bonjour",
    "boutique",
    "comptabilite",
    "compta",
    "commande",
    "commandes",
    "commercial",
    "contact",
    "contacts",
    "direction",
    "equipe",
    "facturation",
    "hello",
    "hostmaster",
    "info",
    "infos",
    "information",
    "informations",
    "jobs",
    "magasin",
    "marketing",
    "newsletter",
    "no-reply",
    "noreply",
    "office",
    "postmaster",
    "recrutement",
    "reservation",
    "reservations",
    "rh",
    "sales",
    "secretariat",
    "service.client",
    "serviceclient",
    "support",
    "team",
    "vente",
    "ventes",
    "webmaster",
)


def is_disposable(domain: str) -> bool:
    """On the disposable-domains list, itself or a parent ("x.yopmail.com")."""
    parts = domain.split(".")
    return any(".".join(parts[i:]) in _DISPOSABLE for i in range(len(parts) - 1))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (insert, delete, replace, swap two neighbours), or
    `limit + 1` as soon as it is sure to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _allowed_distance(reference: str) -> int:
    # One slip in a short name; two in a long one ("hotmial.frr").
    return 2 if len(reference) >= 10 else 1


class TypoFinder:
    """Finds the domain a rare one misspells. Candidates come from a symmetric-deletion index
    (the reference and the domain each with one character deleted meet when they are one
    replacement, insertion, deletion or swap apart), then the edit distance decides: a few
    dictionary look-ups per domain instead of a distance to every reference."""

    def __init__(self, common: Mapping[str, int]):
        # Rank: the published list's order first, then this base's common domains by size.
        ranked = [*REFERENCE_DOMAINS]
        ranked += sorted(
            (d for d, n in common.items() if n >= COMMON_MIN_ADDRESSES and d not in _REFERENCE_SET),
            key=lambda d: (-common[d], d),
        )
        self.rank = {domain: index for index, domain in enumerate(ranked)}
        self.common = common
        self.index: dict[str, set[str]] = {}
        for reference in ranked:
            for key in {reference} | _deletes(reference):
                self.index.setdefault(key, set()).add(reference)

    def fix(self, domain: str, count: int) -> str | None:
        """The domain `domain` (held by `count` addresses) is probably a typo of, or None."""
        if domain in _REFERENCE_SET:
            return None
        candidates: set[str] = set()
        for key in {domain} | _deletes(domain):
            candidates |= self.index.get(key, set())
        best: tuple[int, int, str] | None = None
        for reference in candidates:
            if reference == domain or not self._rare_beside(count, reference):
                continue
            allowed = _allowed_distance(reference)
            distance = edit_distance(domain, reference, allowed)
            if distance > allowed:
                continue
            key = (distance, self.rank[reference], reference)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    def _rare_beside(self, count: int, reference: str) -> bool:
        ceiling = self.common.get(reference, 0) * TYPO_MAX_RATIO
        if reference in _REFERENCE_SET:
            ceiling = max(ceiling, TYPO_ALWAYS_UP_TO)
        return count <= ceiling


@dataclass
class DomainVerdicts:
    """What the audit found among a base's domains: {domain: suggested fix} for likely typos,
    and the sets of disposable and invalid domains."""

    typos: dict[str, str] = field(default_factory=dict)
    disposable: set[str] = field(default_factory=set)
    invalid: set[str] = field(default_factory=set)


def domains_judge(counts: Mapping[str, int]) -> DomainVerdicts:
    """Judge every distinct domain of a base ({domain: addresses}). An invalid domain is only
    that; a likely typo is not also called disposable (typo squatters' domains are on the
    disposable list: "gmial.com" is, and the person meant gmail.com)."""
    verdicts = DomainVerdicts()
    finder = TypoFinder(counts)
    for domain, count in counts.items():
        if not domain or not email_domain_valid(domain):
            verdicts.invalid.add(domain)
            continue
        fix = finder.fix(domain, count)
        if fix:
            verdicts.typos[domain] = fix
        elif is_disposable(domain):
            verdicts.disposable.add(domain)
    return verdicts
