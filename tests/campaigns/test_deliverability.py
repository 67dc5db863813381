from __future__ import annotations

import shutil
import subprocess

import pytest
from django.core.cache import cache
from django.utils import translation

from fidele.campaigns import deliverability
from fidele.campaigns.deliverability import (
    SpamRule,
    SpamScore,
    campaign_deliverability_check,
    message_check,
    spam_report_parse,
)
from fidele.campaigns.sending import CampaignContent, message_sample
from tests.delivery.test_mime import rsa_key  # noqa: F401 (a fixture)
from tests.factories import make_campaign, make_contact, make_list

pytestmark = pytest.mark.django_db

needs_spamassassin = pytest.mark.skipif(
    not shutil.which("spamassassin"), reason="SpamAssassin is not installed"
)

SHORT = (
    "<p>Bonjour {{ contact.first_name }}, nos coffrets de Noël sont arrivés.</p>\n"
    '<p><a href="https://cave-de-lea.fr/noel">Les découvrir</a></p>'
)
# Plenty of words: well over the 3,200 bytes under which an image makes a message "image only".
LONG = "".join(
    f"<p>Paragraphe {n} : nos vignerons ont choisi pour vous des cuvées de caractère, à "
    "découvrir en famille ou entre amis, avec des accords mets et vins de saison.</p>"
    for n in range(30)
)


@pytest.fixture(autouse=True)
def _public_address_and_empty_cache(settings):
    # A real deployment's address: the local default (127.0.0.1) is a finding of its own.
    settings.BASE_URL = "https://fidele.cave-de-lea.fr"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def no_spamassassin(monkeypatch):
    monkeypatch.setattr(deliverability, "spam_tool", lambda: None)


@pytest.fixture
def signed(rsa_key, settings):  # noqa: F811
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "cave-de-lea.fr", "fidele"
    settings.DKIM_PRIVATE_KEY_FILE = str(rsa_key[0])


def codes(report):
    return [finding.code for finding in report.findings]


def built(campaign, **values):
    """The message of `campaign` as the check builds it, after changing `values` on it."""
    for name, value in values.items():
        setattr(campaign, name, value)
    return message_sample(content=CampaignContent(campaign), to_email="a@example.com")


def test_the_check_reads_the_message_the_engine_would_send_to_the_first_recipient(
    no_spamassassin,
):
    news = make_list("news")
    make_contact("zoe@example.com", lists=[news], first_name="Zoé")
    make_contact("yann@example.com", lists=[news], first_name="Yann")
    campaign = make_campaign(lists=[news], body=SHORT)
    report = campaign_deliverability_check(campaign=campaign)
    assert report.recipient == "zoe@example.com"
    assert report.spam_tool == "" and report.score is None
    (message,) = report.messages
    assert message.links == 1 and message.domains == ["cave-de-lea.fr"]
    assert message.words > 10 and message.size_bytes > message.html_bytes > 0


def test_a_short_campaign_is_told_that_the_open_pixel_makes_it_image_only(no_spamassassin):
    campaign = make_campaign(lists=[make_list("news")], body=SHORT)
    report = campaign_deliverability_check(campaign=campaign)
    (finding,) = [f for f in report.findings if f.code == "open_pixel_image_only"]
    assert finding.severity == "warning"
    assert "bytes of HTML" in finding.message and "HTML_IMAGE_ONLY_*" in finding.message
    assert "Turn open tracking off" in finding.advice

    campaign.track_opens = False
    assert "open_pixel_image_only" not in codes(campaign_deliverability_check(campaign=campaign))
    campaign.track_opens, campaign.body = True, SHORT + LONG
    assert "open_pixel_image_only" not in codes(campaign_deliverability_check(campaign=campaign))


def test_a_short_message_with_pictures_is_image_only_whatever_the_pixel(no_spamassassin):
    campaign = make_campaign(
        body='<img src="https://cave-de-lea.fr/a.jpg" alt="">'
        '<img src="https://cave-de-lea.fr/b.jpg" alt="">',
        track_opens=False,
    )
    report = campaign_deliverability_check(campaign=campaign)
    assert "image_only" in codes(report) and "open_pixel_image_only" not in codes(report)
    assert (
        "2 images in a short message" in report.findings[codes(report).index("image_only")].message
    )


def test_a_clean_long_signed_campaign_is_all_well(no_spamassassin, signed):
    campaign = make_campaign(
        lists=[make_list("news")], body=LONG, subject="Nos coffrets de Noël", track_opens=False
    )
    report = campaign_deliverability_check(campaign=campaign)
    assert report.findings == [] and report.ok


def test_a_message_without_dkim_is_told_how_to_sign_it(no_spamassassin):
    report = campaign_deliverability_check(campaign=make_campaign(body=LONG))
    (finding,) = [f for f in report.findings if f.code == "dkim_missing"]
    assert "cave-de-lea.fr" in finding.advice and "DKIM_PRIVATE_KEY_FILE" in finding.advice
    assert not report.ok


def test_a_signature_for_another_domain_than_the_senders_is_flagged(
    no_spamassassin, signed, settings
):
    settings.DKIM_DOMAIN = "mailer.example"
    report = campaign_deliverability_check(campaign=make_campaign(body=LONG))
    assert "dkim_unaligned" in codes(report) and "dkim_missing" not in codes(report)


def test_html_over_102_kb_is_clipped_by_gmail_and_over_80_kb_nearly():
    campaign = make_campaign(body=LONG * 25, track_opens=False)
    clipped = message_check(built(campaign))
    assert clipped.html_bytes > 102 * 1024
    assert clipped.findings[0].code == "size_clipped" and clipped.findings[0].severity == "problem"
    near = message_check(built(campaign, body=LONG * 17))
    assert 80 * 1024 < near.html_bytes <= 102 * 1024
    assert "size_large" in [f.code for f in near.findings]


def test_links_are_counted_by_where_they_lead_and_shorteners_are_flagged():
    body = LONG + "".join(
        f'<a href="{url}">lien</a>'
        for url in (
            "https://cave-de-lea.fr/a",
            "https://www.cave-de-lea.fr/b",
            "https://bit.ly/3xYz",
            "https://tinyurl.com/abc",
            "mailto:bonjour@cave-de-lea.fr",
        )
    )
    message = built(make_campaign(body=body))
    assert "https://fidele.cave-de-lea.fr/t/c/" in message.html  # tracked: the engine's links
    report = message_check(message)
    assert report.links == 4
    assert report.domains == ["bit.ly", "cave-de-lea.fr", "tinyurl.com"]
    (finding,) = [f for f in report.findings if f.code == "link_shortener"]
    assert "bit.ly, tinyurl.com" in finding.message and finding.severity == "problem"


def test_many_links_to_many_sites_are_flagged():
    body = LONG + "".join(f'<a href="https://site{n}.example/">{n}</a>' for n in range(10))
    report = message_check(built(make_campaign(body=body)))
    assert "links_many" in [f.code for f in report.findings]


def test_links_to_an_ip_address_or_localhost_are_flagged(settings):
    settings.BASE_URL = "http://127.0.0.1:8000"
    report = message_check(built(make_campaign(body=LONG)))
    (finding,) = [f for f in report.findings if f.code == "link_ip_address"]
    assert "127.0.0.1" in finding.message and "FIDELE_BASE_URL" in finding.advice


def test_a_message_without_links_of_its_own_blames_the_links_fidele_adds(settings):
    settings.BASE_URL = "http://127.0.0.1:8000"
    with translation.override("fr"):
        report = message_check(built(make_campaign(body=LONG)))
        (finding,) = [f for f in report.findings if f.code == "link_ip_address"]
        assert report.links == 0
        assert finding.message.startswith(
            "Le lien de désinscription et le suivi que Fidèle ajoute au message mènent à 127.0.0.1"
        )


def test_a_link_of_the_message_to_a_local_name_is_named_as_the_messages(settings):
    body = LONG + '<p><a href="http://intranet.local/promo">promo</a></p>'
    report = message_check(built(make_campaign(body=body, track_links=False)))
    (finding,) = [f for f in report.findings if f.code == "link_ip_address"]
    assert finding.message.startswith("Links in the message point to intranet.local")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("SOLDES MONSTRES SUR TOUTE LA CAVE", ["subject_caps"]),
        ("Vite, les soldes !!", ["subject_exclamations"]),
        ("Livraison GRATUITE et félicitations", ["subject_spammy_words"]),
        ("Act now: click here, it's free", ["subject_spammy_words"]),
        ("Nos coffrets de Noël", []),
        ("Un crédit d'achat offert à nos fidèles", []),
    ],
)
def test_a_shouting_or_spammy_subject_is_flagged_in_french_and_english(subject, expected):
    report = message_check(built(make_campaign(body=LONG, track_opens=False), subject=subject))
    found = [f.code for f in report.findings if f.code.startswith("subject_")]
    assert found == expected


def test_the_spammy_words_found_are_named():
    report = message_check(built(make_campaign(body=LONG), subject="Cadeau gratuit, urgent"))
    (finding,) = [f for f in report.findings if f.code == "subject_spammy_words"]
    assert "gratuit, urgent" in finding.message


def test_a_message_without_its_unsubscribe_headers_or_text_part_is_flagged():
    message = built(make_campaign(body=LONG, track_opens=False))
    head, body = message.raw.split(b"\r\n\r\n", 1)
    head = b"\r\n".join(
        line for line in head.split(b"\r\n") if not line.startswith(b"List-Unsubscribe")
    ).replace(b"List-Unsubscribe", b"X-Gone")
    # Only the HTML part is left.
    boundary = body.split(b"\r\n", 1)[0]
    parts = body.split(boundary)
    message.raw = head + b"\r\n\r\n" + boundary + parts[2] + boundary + b"--\r\n"
    report = message_check(message)
    found = {f.code: f.severity for f in report.findings}
    assert found["list_unsubscribe_missing"] == "problem"
    assert found["list_unsubscribe_post_missing"] == "problem"
    assert found["text_part_missing"] == "problem"


def test_a_hand_written_text_part_much_shorter_than_the_html_is_flagged():
    message = built(make_campaign(body=LONG, text_body="Bonjour, voyez nos coffrets."))
    assert "text_part_short" in [f.code for f in message_check(message).findings]


# ---------------------------------------------------------------------------------------------
# SpamAssassin

SPAMC_OUTPUT = """2.8/5.0
Spam detection software, running on the system "mail", has NOT identified this incoming email
as spam.

Content analysis details:   (2.8 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
-0.0 NO_RELAYS              Informational: message was not relayed via SMTP
 2.8 HTML_IMAGE_ONLY_24     BODY: HTML: images with 2000-2400 bytes of
                            words
 0.0 HTML_MESSAGE           BODY: HTML included in message

"""


def test_the_spamassassin_report_gives_the_score_and_each_rule_with_its_points():
    score = spam_report_parse(SPAMC_OUTPUT, tool="spamc")
    assert (score.tool, score.score, score.threshold) == ("spamc", 2.8, 5.0)
    assert score.rules == [
        SpamRule("NO_RELAYS", -0.0, "Informational: message was not relayed via SMTP"),
        SpamRule("HTML_IMAGE_ONLY_24", 2.8, "BODY: HTML: images with 2000-2400 bytes of words"),
        SpamRule("HTML_MESSAGE", 0.0, "BODY: HTML included in message"),
    ]
    assert [rule.name for rule in score.rules_scored] == ["HTML_IMAGE_ONLY_24"]
    assert score.rules_unscored == 2
    assert spam_report_parse("0/0\n", tool="spamc") is None


def test_spamassassins_image_only_rules_name_the_points_the_pixel_costs():
    spam = SpamScore("spamc", 2.8, 5.0, [SpamRule("HTML_IMAGE_ONLY_24", 2.8, "images")])
    report = message_check(built(make_campaign(body=SHORT)), spam=spam)
    (finding,) = [f for f in report.findings if f.code == "open_pixel_image_only"]
    assert "(HTML_IMAGE_ONLY_24, 2.8 points)" in finding.message
    assert "spam_score_raised" in [f.code for f in report.findings]
    # SpamAssassin's verdict wins over the estimate: no rule hit, no finding.
    clean = SpamScore("spamc", 0.0, 5.0, [])
    assert "open_pixel_image_only" not in [
        f.code for f in message_check(built(make_campaign(body=SHORT)), spam=clean).findings
    ]
    high = SpamScore("spamc", 6.1, 5.0, [])
    assert message_check(built(make_campaign(body=SHORT)), spam=high).findings[0].code == (
        "spam_score_high"
    )


def fake_spamassassin(monkeypatch, output=SPAMC_OUTPUT, error=None):
    calls = []

    def run(command, *, input, timeout, **kwargs):
        calls.append(input)
        if error is not None:
            raise error
        return subprocess.CompletedProcess(command, 0, output.encode(), b"")

    monkeypatch.setattr(deliverability, "spam_tool", lambda: ("spamc", "-R"))
    monkeypatch.setattr(deliverability.subprocess, "run", run)
    return calls


def test_the_score_is_kept_per_message_content_and_asked_again_when_it_changes(monkeypatch):
    calls = fake_spamassassin(monkeypatch)
    campaign = make_campaign(lists=[make_list("news")], body=SHORT)
    assert campaign_deliverability_check(campaign=campaign).score == 2.8
    assert campaign_deliverability_check(campaign=campaign).score == 2.8
    assert len(calls) == 1
    campaign.body = SHORT + "<p>Et une phrase de plus.</p>"
    campaign_deliverability_check(campaign=campaign)
    assert len(calls) == 2
    assert b"Et une phrase de plus." in calls[1].replace(b"=\r\n", b"")


def test_a_spamassassin_that_does_not_answer_in_time_is_said_and_asked_again_next_time(
    monkeypatch,
):
    calls = fake_spamassassin(monkeypatch, error=subprocess.TimeoutExpired("spamc", 20))
    campaign = make_campaign(body=SHORT)
    report = campaign_deliverability_check(campaign=campaign, timeout=20)
    assert report.score is None
    assert report.messages[0].spam_error == "SpamAssassin did not answer within 20 seconds."
    campaign_deliverability_check(campaign=campaign, timeout=20)
    assert len(calls) == 2


def test_a_spamd_that_is_not_running_falls_back_to_spamassassin(monkeypatch):
    commands = []

    def run(command, **kwargs):
        commands.append(command[0])
        if command[0] == "spamc":
            return subprocess.CompletedProcess(command, 69, b"0/0\n", b"")
        return subprocess.CompletedProcess(command, 0, SPAMC_OUTPUT.encode(), b"")

    monkeypatch.setattr(deliverability.subprocess, "run", run)
    monkeypatch.setattr(deliverability.shutil, "which", lambda name: f"/usr/bin/{name}")
    score = deliverability.spam_score(b"x", tool=deliverability.spam_tool())
    assert commands == ["spamc", "spamassassin"]
    assert score.tool == "spamassassin" and score.score == 2.8


def test_an_ab_campaign_checks_each_variant(no_spamassassin):
    from fidele.campaigns.models import Variant

    campaign = make_campaign(body=LONG, ab_enabled=True, track_opens=False)
    Variant.objects.create(campaign=campaign, label="A", subject="Nos coffrets")
    Variant.objects.create(campaign=campaign, label="B", subject="GRATUIT !!!")
    report = campaign_deliverability_check(campaign=campaign)
    assert [m.label for m in report.messages] == ["A", "B"]
    assert {(f.variant, f.code) for f in report.findings if f.code.startswith("subject")} == {
        ("B", "subject_caps"),
        ("B", "subject_exclamations"),
        ("B", "subject_spammy_words"),
    }


@needs_spamassassin
def test_spamassassin_scores_a_short_campaign_lower_without_the_open_pixel_or_with_more_text():
    campaign = make_campaign(lists=[make_list("news")], body=SHORT)
    tracked = campaign_deliverability_check(campaign=campaign)
    image_only = tracked.messages[0].spam.hit("HTML_IMAGE_ONLY_")
    assert image_only, tracked.messages[0].spam.rules
    assert "open_pixel_image_only" in codes(tracked)

    campaign.track_opens = False
    untracked = campaign_deliverability_check(campaign=campaign)
    assert not untracked.messages[0].spam.hit("HTML_IMAGE_ONLY_")
    assert untracked.score <= tracked.score - image_only[0].points + 0.01
    assert "open_pixel_image_only" not in codes(untracked)

    campaign.track_opens, campaign.body = True, SHORT + LONG
    longer = campaign_deliverability_check(campaign=campaign)
    assert not longer.messages[0].spam.hit("HTML_IMAGE_ONLY_")
    assert longer.score < tracked.score
    assert "open_pixel_image_only" not in codes(longer)


def test_spamassassin_reports_in_english_whatever_the_servers_locale(monkeypatch):
    # A French locale translates SpamAssassin's report headings, which would then not be read.
    seen = {}

    def run(command, *, env, **kwargs):
        seen.update(env)
        return subprocess.CompletedProcess(command, 0, SPAMC_OUTPUT.encode(), b"")

    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.setattr(deliverability.subprocess, "run", run)
    deliverability.spam_score(b"x", tool=("spamassassin", "-t", "-L"))
    assert seen["LANG"] == seen["LC_ALL"] == "C.UTF-8" and seen["LANGUAGE"] == ""
