"""The deliverability check: the campaign's message, built as it will leave for one recipient of
its audience, read the way spam filters and mailbox providers read it.

The message comes from fidele.campaigns.sending.message_sample, the send engine's own path
(compiled content, identity, MIME assembly, List-Unsubscribe headers, DKIM signature): what is
checked is what would be sent, not a preview. Each check gives a Finding with its numbers and
what to do, in the user's language. When SpamAssassin is installed (`spamc` with a running
spamd, or `spamassassin`), the message is also scored by it, local tests only, and the rules it
hits are listed; that takes seconds, so its result is cached per message content, and the page
loads the check on its own (htmx) after the rest of the campaign page.

Thresholds and why:
- Gmail clips a message whose HTML is over 102 kB: the rest, unsubscribe link included, hides
  behind "View entire message", and opens are lost with the pixel at the end.
- SpamAssassin's HTML_IMAGE_ONLY_04 ... _32 add up to 2.8 points (local tests) to an HTML
  part that holds any <img> and is at most 3,200 bytes long. Their descriptions say "bytes of
  words", but what SpamAssassin measures (Mail::SpamAssassin::HTML, `length`) is the whole HTML
  source, tags included. The open pixel is an image: a short campaign hits one of them only
  because of it.
"""

from __future__ import annotations

import email
import hashlib
import ipaddress
import logging
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from email import policy
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from fidele.campaigns.audience import audience_queryset
from fidele.campaigns.models import Campaign
from fidele.campaigns.sending import CampaignContent, message_sample
from fidele.delivery.transports import OutgoingMessage

logger = logging.getLogger(__name__)

PROBLEM, WARNING, INFO = "problem", "warning", "info"
_SEVERITY_ORDER = {PROBLEM: 0, WARNING: 1, INFO: 2}

GMAIL_CLIP_BYTES = 102 * 1024
LARGE_BYTES = 80 * 1024
# SpamAssassin's HTML_IMAGE_ONLY_32 is the last of the family: 2,800 to 3,200 bytes of HTML.
IMAGE_ONLY_HTML_BYTES = 3200
FEW_WORDS = 30
MANY_LINKS = 30
MANY_DOMAINS = 8
# Below this share of visible text in the HTML, the message is mostly markup and images.
LOW_TEXT_SHARE = 0.05
SPAM_TIMEOUT_SECONDS = 30
SPAM_CACHE_SECONDS = 7 * 24 * 3600

URL_SHORTENERS = frozenset({
    "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly",
    "rebrand.ly", "cutt.ly", "shorturl.at", "rb.gy", "tiny.cc", "t.ly", "v.gd", "lnkd.in",
    "s.id", "bl.ink", "short.io", "soo.gd", "clck.ru", "qr.ae", "trib.al", "dlvr.it",
})  # fmt: skip

# Words that filters and readers associate with spam in a subject, French and English: a short
# list, matched as whole words, accents and case ignored.
SPAMMY_SUBJECT_WORDS = (
    "gratuit", "gratuite", "gratuits", "gratuites", "urgent", "urgence", "gagnant", "gagnez",
    "argent facile", "cliquez ici", "sans risque", "satisfait ou rembourse", "felicitations",
    "derniere chance", "100 %", "100%", "free", "winner", "cash", "act now", "click here",
    "risk-free", "risk free", "guaranteed", "congratulations", "last chance", "$$$", "viagra",
    "no cost", "limited time",
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    advice: str = ""
    variant: str = ""


@dataclass(frozen=True)
class SpamRule:
    name: str
    points: float
    description: str


@dataclass
class SpamScore:
    tool: str
    score: float
    threshold: float
    rules: list[SpamRule] = field(default_factory=list)

    def hit(self, prefix: str) -> list[SpamRule]:
        return [rule for rule in self.rules if rule.name.startswith(prefix)]

    @property
    def rules_scored(self) -> list[SpamRule]:
        """The rules that add or remove points, most points first (the rest only inform)."""
        scored = [rule for rule in self.rules if abs(rule.points) >= 0.05]
        return sorted(scored, key=lambda rule: -rule.points)

    @property
    def rules_unscored(self) -> int:
        return len(self.rules) - len(self.rules_scored)


@dataclass
class MessageReport:
    """The check of one message: the campaign's, or one A/B variant's (`label`)."""

    label: str
    findings: list[Finding]
    spam: SpamScore | None
    spam_error: str = ""
    size_bytes: int = 0
    html_bytes: int = 0
    words: int = 0
    links: int = 0
    domains: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return ", ".join(
            [
                _("%(kb)s kB") % {"kb": _kb(self.size_bytes)},
                ngettext("%(n)s word", "%(n)s words", self.words) % {"n": _number(self.words)},
                ngettext("%(n)s link", "%(n)s links", self.links) % {"n": self.links},
                ngettext("%(n)s site", "%(n)s sites", len(self.domains)) % {"n": len(self.domains)},
            ]
        )


@dataclass
class DeliverabilityReport:
    campaign_id: int
    messages: list[MessageReport]
    spam_tool: str = ""
    recipient: str = ""

    @property
    def findings(self) -> list[Finding]:
        return [finding for message in self.messages for finding in message.findings]

    @property
    def ok(self) -> bool:
        return not self.to_look_at

    @property
    def to_look_at(self) -> int:
        """How many findings ask for something (notes only inform)."""
        return sum(f.severity in (PROBLEM, WARNING) for f in self.findings)

    @property
    def score(self) -> float | None:
        scores = [m.spam.score for m in self.messages if m.spam is not None]
        return max(scores) if scores else None

    def as_dict(self) -> dict[str, Any]:
        def spam(message: MessageReport) -> dict[str, Any] | None:
            return asdict(message.spam) if message.spam is not None else None

        first = self.messages[0] if self.messages else None
        return {
            "campaign": self.campaign_id,
            "ok": self.ok,
            "score": self.score,
            "threshold": first.spam.threshold if first and first.spam else None,
            "spam_tool": self.spam_tool or None,
            "recipient": self.recipient,
            "findings": [asdict(finding) for finding in self.findings],
            "messages": [
                {
                    "variant": message.label,
                    "size_bytes": message.size_bytes,
                    "html_bytes": message.html_bytes,
                    "words": message.words,
                    "links": message.links,
                    "domains": message.domains,
                    "spamassassin": spam(message),
                    "spam_error": message.spam_error or None,
                }
                for message in self.messages
            ],
        }


# ---------------------------------------------------------------------------------------------
# The service


def campaign_deliverability_check(
    *, campaign: Campaign, spam: bool = True, timeout: float = SPAM_TIMEOUT_SECONDS
) -> DeliverabilityReport:
    """Check each message the campaign would send (each variant of an A/B test), as built for
    the first contact of its audience (merge tags filled with their values; defaults when the
    audience is empty). `spam=False` skips SpamAssassin. Raises TemplateProblem when the content
    cannot be rendered (the campaign page says so already)."""
    content = CampaignContent(campaign)
    try:
        contact = audience_queryset(campaign).order_by("pk").first()
    except ValueError:  # segment rules, which cannot be sent yet (the page says so)
        contact = None
    to_email = getattr(contact, "email", "") or "camille.martin@example.com"
    to_name = " ".join(
        part
        for part in (getattr(contact, "first_name", ""), getattr(contact, "last_name", ""))
        if part
    )
    variants = list(campaign.variants.order_by("label")) if campaign.ab_enabled else []
    tool = spam_tool() if spam else None
    reports = []
    for variant in variants or [None]:
        message = message_sample(
            content=content,
            variant_id=variant.pk if variant is not None else None,
            contact=contact,
            to_email=to_email,
            to_name=to_name,
        )
        label = variant.label if variant is not None else ""
        score, error = (None, "")
        if tool is not None:
            score, error = spam_score_cached(message, tool=tool, timeout=timeout)
        reports.append(
            message_check(message, label=label, spam=score, track_opens=campaign.track_opens)
        )
        reports[-1].spam_error = error
    return DeliverabilityReport(
        campaign_id=campaign.pk,
        messages=reports,
        spam_tool=tool[0] if tool else "",
        recipient=to_email,
    )


# ---------------------------------------------------------------------------------------------
# Reading the message


class _HtmlReader(HTMLParser):
    """The visible text, the links and the images of an HTML part."""

    _SKIPPED = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[str] = []
        self.images: list[dict[str, str]] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"].strip())
        elif tag == "img":
            self.images.append(values)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.text.append(data)

    def visible_text(self) -> str:
        # Zero-width characters pad the hidden preheader; they are not words.
        text = re.sub(r"[\u034f\u200b-\u200d\u2060\ufeff]", "", " ".join(self.text))
        return " ".join(text.split())


def _parts(raw: bytes) -> tuple[Any, str | None, str | None]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    html = text = None
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind == "text/html" and html is None:
            html = part.get_content()
        elif kind == "text/plain" and text is None:
            text = part.get_content()
    return parsed, html, text


def _link_target(url: str) -> str:
    """Where a link leads: the page itself for a tracked link (its `u` parameter)."""
    base = settings.BASE_URL.rstrip("/")
    if url.startswith(f"{base}/t/c/"):
        target = parse_qs(urlsplit(url).query).get("u")
        if target:
            return target[0]
    return url


def _host(url: str) -> str:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_local_or_ip(host: str) -> bool:
    return _is_ip(host) or host == "localhost" or host.endswith((".localhost", ".local"))


def _fold(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _kb(size: int) -> str:
    return _number(size / 1024, 0 if size >= 10 * 1024 else 1)


def _number(value: float, digits: int | None = None) -> str:
    from django.utils.formats import number_format

    return number_format(value, digits, force_grouping=True)


# ---------------------------------------------------------------------------------------------
# The checks


def message_check(
    message: OutgoingMessage,
    *,
    label: str = "",
    spam: SpamScore | None = None,
    track_opens: bool = True,
) -> MessageReport:
    """The findings on one built message, most serious first; with SpamAssassin's score when
    given, whose rules then decide the image-only findings instead of this module's estimate."""
    raw = message.raw
    parsed, html, text = _parts(raw)
    reader = _HtmlReader()
    reader.feed(html or "")
    reader.close()
    visible = reader.visible_text()
    words = len(visible.split())
    html_bytes = len((html or "").encode("utf-8"))
    base = settings.BASE_URL.rstrip("/")
    pixel_prefix = f"{base}/t/o/"
    pixels = [img for img in reader.images if img.get("src", "").startswith(pixel_prefix)]
    images = [img for img in reader.images if img not in pixels]
    # Fidèle's own links are not the message's: the unsubscribe link, and the hidden, empty
    # honeypot link (fidele.tracking.classify) that no reader sees.
    own = (f"{base}/t/u/", f"{base}/t/h/")
    links = [
        _link_target(url)
        for url in reader.links
        if url.lower().startswith(("http://", "https://")) and not url.startswith(own)
    ]
    domains = sorted({host for host in map(_host, links) if host})

    found: list[Finding] = []

    def add(code: str, severity: str, message_text: str, advice: str = "") -> None:
        found.append(Finding(code, severity, message_text, advice, label))

    # Size
    if html_bytes > GMAIL_CLIP_BYTES:
        add(
            "size_clipped",
            PROBLEM,
            _(
                "The HTML part weighs %(kb)s kB: Gmail cuts messages over 102 kB and hides the "
                "rest, your unsubscribe link included, behind “View entire message”."
            )
            % {"kb": _kb(html_bytes)},
            _("Shorten the text, remove repeated blocks, or link to the full version online."),
        )
    elif html_bytes > LARGE_BYTES:
        add(
            "size_large",
            WARNING,
            _("The HTML part weighs %(kb)s kB, close to the 102 kB at which Gmail cuts messages.")
            % {"kb": _kb(html_bytes)},
            _("Keep it short: every block you add brings it nearer the limit."),
        )

    # Parts, text and images
    if html is not None and text is None:
        add(
            "text_part_missing",
            PROBLEM,
            _("The message has no plain-text version: filters score HTML-only mail higher."),
            _("Leave the plain-text version empty in the editor: it is then made for you."),
        )
    text_words = len((text or "").split())
    if html is not None and text is not None and words >= FEW_WORDS and text_words < words / 2:
        add(
            "text_part_short",
            WARNING,
            _(
                "The plain-text version has %(text)s words against %(html)s in the HTML: filters "
                "notice when the two versions do not say the same thing."
            )
            % {"text": text_words, "html": words},
            _("Update the plain-text version, or empty it so that it is made from the content."),
        )
    spam_image_rules = spam.hit("HTML_IMAGE_ONLY_") if spam is not None else []
    if spam is not None:
        image_only = bool(spam_image_rules)
    else:
        image_only = bool(reader.images) and 0 < html_bytes <= IMAGE_ONLY_HTML_BYTES
    points = sum(rule.points for rule in spam_image_rules)
    rule_names = ", ".join(rule.name for rule in spam_image_rules) or "HTML_IMAGE_ONLY_*"
    if image_only and pixels and not images:
        add(
            "open_pixel_image_only",
            WARNING,
            (
                _(
                    "The open-tracking pixel is the only image, and the message is short "
                    "(%(bytes)s bytes of HTML): SpamAssassin reads it as an image-only message "
                    "(%(rules)s, %(points)s points)."
                )
                if spam_image_rules
                else _(
                    "The open-tracking pixel is the only image, and the message is short "
                    "(%(bytes)s bytes of HTML): SpamAssassin reads such a message as image-only "
                    "(%(rules)s, up to 2.8 points)."
                )
            )
            % {"bytes": _number(html_bytes), "rules": rule_names, "points": _number(points, 1)},
            _(
                "Turn open tracking off in the campaign's settings (clicks are still counted), "
                "or write a few more sentences (about %(chars)s more characters)."
            )
            % {"chars": _number(max(1, IMAGE_ONLY_HTML_BYTES + 1 - html_bytes))},
        )
    elif image_only:
        add(
            "image_only",
            WARNING,
            ngettext(
                "%(images)s image in a short message (%(bytes)s bytes of HTML): SpamAssassin "
                "reads it as an image-only message (%(rules)s).",
                "%(images)s images in a short message (%(bytes)s bytes of HTML): SpamAssassin "
                "reads it as an image-only message (%(rules)s).",
                len(reader.images),
            )
            % {"images": len(reader.images), "bytes": _number(html_bytes), "rules": rule_names},
            _("Say in words what the images show: a few more sentences are enough."),
        )
    elif words < FEW_WORDS:
        add(
            "few_words",
            INFO,
            ngettext(
                "The message says little: %(words)s word.",
                "The message says little: %(words)s words.",
                words,
            )
            % {"words": words},
            _("A few sentences of real text help filters tell it from spam."),
        )
    share = len(visible) / html_bytes if html_bytes else 1.0
    if html is not None and share < LOW_TEXT_SHARE and not image_only:
        add(
            "text_share_low",
            INFO,
            _(
                "Text is %(share)s%% of the HTML: the rest is markup and styles. Filters prefer "
                "messages that are mostly words."
            )
            % {"share": f"{share * 100:.0f}"},
            _("Remove unused blocks and styles from the layout, or add text."),
        )

    # Links
    shorteners = sorted({host for host in domains if host in URL_SHORTENERS})
    if shorteners:
        add(
            "link_shortener",
            PROBLEM,
            _(
                "Links through a URL shortener (%(domains)s): spammers hide behind them, and "
                "many filters block them."
            )
            % {"domains": ", ".join(shorteners)},
            _("Link to the page itself; Fidèle already counts the clicks."),
        )
    # The hosts a mail client sees: tracked links, the pixel and the unsubscribe link are on
    # this app's address (FIDELE_BASE_URL), not on their target's.
    seen_hosts = {_host(url) for url in reader.links} | {
        _host(img.get("src", "")) for img in reader.images
    }
    unreachable = sorted(host for host in seen_hosts if host and _is_local_or_ip(host))
    if unreachable:
        # Only Fidèle's own address: the message has no link of its own to blame (the summary
        # may say "0 links"); its unsubscribe link and tracking are the ones that point there.
        only_this_app = unreachable == [_host(base)]
        add(
            "link_ip_address",
            WARNING,
            (
                _(
                    "The unsubscribe link and the tracking that Fidèle adds to the message point "
                    "to %(hosts)s, an IP address or a local name: filters distrust it, and "
                    "outside your network nobody can reach it."
                )
                if only_this_app
                else _(
                    "Links in the message point to %(hosts)s, an IP address or a local name: "
                    "filters distrust it, and outside your network nobody can reach it."
                )
            )
            % {"hosts": ", ".join(unreachable)},
            _(
                "Serve Fidèle at a public https address on your own domain and set "
                "FIDELE_BASE_URL to it before sending."
            ),
        )
    if len(links) > MANY_LINKS or len(domains) > MANY_DOMAINS:
        add(
            "links_many",
            WARNING,
            _("%(links)s links to %(domains)s different sites: filters distrust link lists.")
            % {"links": len(links), "domains": len(domains)},
            _("Keep the links that matter; one site for most of them is best."),
        )

    # Subject
    subject = message.subject or ""
    letters = [c for c in subject if c.isalpha()]
    if not subject.strip():
        add(
            "subject_empty",
            PROBLEM,
            _("The subject is empty."),
            _("Write a subject: it is the first thing read."),
        )
    elif len(letters) >= 6 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        add(
            "subject_caps",
            WARNING,
            _("The subject is in capitals: “%(subject)s”.") % {"subject": subject},
            _("Write it in ordinary letters: capitals read as shouting, to filters as well."),
        )
    exclamations = subject.count("!")
    if exclamations >= 2:
        add(
            "subject_exclamations",
            WARNING,
            _("The subject has %(count)s exclamation marks.") % {"count": exclamations},
            _("One at most."),
        )
    folded = _fold(subject)
    spammy = [
        word
        for word in SPAMMY_SUBJECT_WORDS
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", folded)
    ]
    if spammy:
        add(
            "subject_spammy_words",
            WARNING,
            _("The subject uses words that spam filters watch for: %(words)s.")
            % {"words": ", ".join(spammy)},
            _("Say what the offer is in plain words."),
        )

    # Headers
    unsubscribe = parsed.get("List-Unsubscribe") or ""
    if "https://" not in unsubscribe and "http://" not in unsubscribe:
        add(
            "list_unsubscribe_missing",
            PROBLEM,
            _(
                "The message has no List-Unsubscribe link: Gmail and Yahoo require it from bulk "
                "senders."
            ),
        )
    if (parsed.get("List-Unsubscribe-Post") or "").strip() != "List-Unsubscribe=One-Click":
        add(
            "list_unsubscribe_post_missing",
            PROBLEM,
            _(
                "The message has no List-Unsubscribe-Post header: the mailbox's own "
                "“Unsubscribe” button cannot work in one click (RFC 8058)."
            ),
        )
    signature = parsed.get("DKIM-Signature")
    from_domain = message.from_header.rpartition("@")[2].strip(">").lower()
    if not signature:
        add(
            "dkim_missing",
            WARNING,
            _("The message is not signed with DKIM: Gmail and Yahoo expect bulk mail to be."),
            _(
                "Create a DKIM key for %(domain)s, publish it in the domain's DNS and set "
                "DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE (unless your email "
                "provider signs for you)."
            )
            % {"domain": from_domain or "your domain"},
        )
    else:
        signed = re.search(r"\bd=([^;\s]+)", str(signature))
        domain = signed.group(1).lower() if signed else ""
        if domain and not (from_domain == domain or from_domain.endswith("." + domain)):
            add(
                "dkim_unaligned",
                WARNING,
                _(
                    "The DKIM signature is for %(signed)s but the sender is at %(sender)s: "
                    "DMARC needs the two to match."
                )
                % {"signed": domain, "sender": from_domain},
                _("Sign with a key of the sender's domain, or send from the signed domain."),
            )

    # SpamAssassin's verdict
    if spam is not None:
        if spam.score >= spam.threshold:
            add(
                "spam_score_high",
                PROBLEM,
                _("SpamAssassin scores it %(score)s, over its spam threshold of %(threshold)s.")
                % {"score": _number(spam.score, 1), "threshold": _number(spam.threshold, 1)},
                _("Fix the rules listed below, starting with those worth the most points."),
            )
        elif spam.score >= spam.threshold / 2:
            add(
                "spam_score_raised",
                WARNING,
                _(
                    "SpamAssassin scores it %(score)s (spam from %(threshold)s): stricter filters "
                    "may already turn it away."
                )
                % {"score": _number(spam.score, 1), "threshold": _number(spam.threshold, 1)},
                _("Fix the rules listed below, starting with those worth the most points."),
            )

    found.sort(key=lambda finding: _SEVERITY_ORDER[finding.severity])
    return MessageReport(
        label=label,
        findings=found,
        spam=spam,
        size_bytes=len(raw),
        html_bytes=html_bytes,
        words=words,
        links=len(links),
        domains=domains,
    )


# ---------------------------------------------------------------------------------------------
# SpamAssassin


def spam_tool() -> tuple[str, ...] | None:
    """The command that scores a message on stdin, or None when SpamAssassin is not installed.

    spamc first: with a running spamd it answers in milliseconds; it fails at once (-x, one
    connection attempt) when no spamd runs, and `spamassassin` (a few seconds: it loads every
    rule) is tried then. Local tests only (-L): no DNS lookups from the app, and a verdict that
    does not change from one run to the next."""
    if shutil.which("spamc"):
        return ("spamc", "-x", "-R", "--connect-retries=1")
    if shutil.which("spamassassin"):
        return ("spamassassin", "-t", "-L")
    return None


_REPORT_START = re.compile(r"Content analysis details:\s*\((-?[\d.]+) points?, (-?[\d.]+) required")
_RULE_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


def spam_report_parse(output: str, *, tool: str) -> SpamScore | None:
    """Score, threshold and rules from SpamAssassin's report (the `spamassassin -t` output or
    `spamc -R`'s, which share the table "pts rule name description")."""
    start = _REPORT_START.search(output)
    if start is None:
        return None
    score = SpamScore(tool=tool, score=float(start.group(1)), threshold=float(start.group(2)))
    table = output[start.end() :].splitlines()
    in_rules = False
    for line in table:
        if line.startswith("----"):
            in_rules = True
            continue
        if not in_rules:
            continue
        if not line.strip():
            break
        match = _RULE_LINE.match(line)
        if match:
            score.rules.append(
                SpamRule(
                    name=match.group(2),
                    points=float(match.group(1)),
                    description=match.group(3).strip(),
                )
            )
        elif score.rules and line.startswith(" "):
            # A description continued on the next line.
            last = score.rules[-1]
            score.rules[-1] = SpamRule(
                last.name, last.points, f"{last.description} {line.strip()}".strip()
            )
    return score


def spam_score(
    raw: bytes, *, tool: tuple[str, ...], timeout: float = SPAM_TIMEOUT_SECONDS
) -> SpamScore:
    """Run SpamAssassin on the message. Raises OSError (and subprocess.TimeoutExpired, one) when
    it cannot give a score; falls back from spamc to spamassassin when spamd does not answer."""
    # `tool` is one of spam_tool()'s fixed commands; the message only goes to its stdin. In
    # English whatever the server's locale: a localised report would not be parsed.
    result = subprocess.run(  # noqa: S603
        tool,
        input=raw,
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "LANGUAGE": ""},
    )
    if tool[0] == "spamc" and result.returncode != 0 and shutil.which("spamassassin"):
        return spam_score(raw, tool=("spamassassin", "-t", "-L"), timeout=timeout)
    output = result.stdout.decode("utf-8", "replace")
    parsed = spam_report_parse(output, tool=tool[0])
    if parsed is None:
        error = result.stderr.decode("utf-8", "replace").strip()[-300:]
        raise OSError(f"{tool[0]} gave no score (exit {result.returncode}): {error}")
    return parsed


def _message_version(message: OutgoingMessage) -> str:
    """What the score depends on: everything in the message but its Date, MIME boundary and
    the signature's time (they change at each build and no local rule reads them)."""
    material = "\x00".join(
        [
            message.from_header,
            message.reply_to,
            message.subject,
            repr(sorted(message.headers.items())),
            ",".join(message.recipients),
            message.message_id,
            message.text,
            message.html,
            str(message.raw.startswith(b"DKIM-Signature")),
        ]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def spam_score_cached(
    message: OutgoingMessage, *, tool: tuple[str, ...], timeout: float = SPAM_TIMEOUT_SECONDS
) -> tuple[SpamScore | None, str]:
    """The score of this message content, from the cache when it was scored before. Returns
    (score, "") or (None, why it could not be scored); a failure is not cached."""
    key = "fidele:spamscore:" + _message_version(message)
    cached = cache.get(key)
    if cached is not None:
        return cached, ""
    try:
        score = spam_score(message.raw, tool=tool, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, _("SpamAssassin did not answer within %(seconds)s seconds.") % {
            "seconds": f"{timeout:.0f}"
        }
    except OSError as exc:
        logger.warning("SpamAssassin failed: %s", exc)
        return None, _("SpamAssassin could not score the message: %(error)s") % {"error": exc}
    cache.set(key, score, SPAM_CACHE_SECONDS)
    return score, ""
