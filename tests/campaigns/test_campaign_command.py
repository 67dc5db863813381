from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from fidele.campaigns.models import Campaign
from fidele.delivery.models import CapturedMessage
from tests.factories import make_contact, make_list

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("campaign", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path):
    html = tmp_path / "body.html"
    html.write_text("<p>Bonjour {{ contact.first_name }}</p>", encoding="utf-8")
    text = tmp_path / "body.txt"
    text.write_text("Bonjour {{ contact.first_name }}", encoding="utf-8")
    return html, text


def test_create_prints_the_new_campaigns_id_as_json(files):
    make_list("news"), make_list("clients")
    html, text = files
    out, _ = run(
        "create", "--name", "Soldes", "--subject", "Les soldes", "--from", "news@cave.example",
        "--html-file", str(html), "--text-file", str(text), "--list", "news", "--list", "clients",
        "--json",
    )  # fmt: skip
    payload = json.loads(out)
    assert set(payload) == {"id"}
    campaign = Campaign.objects.get(pk=payload["id"])
    assert campaign.status == "draft" and campaign.subject == "Les soldes"
    assert sorted(campaign.lists.values_list("name", flat=True)) == ["clients", "news"]
    assert "{{ contact.first_name }}" in campaign.body
    assert campaign.text_body == "Bonjour {{ contact.first_name }}"


def test_create_refuses_an_unknown_list(files):
    html, _ = files
    with pytest.raises(CommandError):
        run("create", "--name", "N", "--subject", "S", "--from", "a@b.example",
            "--html-file", str(html), "--list", "nope")  # fmt: skip


def test_send_wait_sends_everything_and_prints_the_totals_as_json(files, settings):
    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    news = make_list("news")
    for i in range(4):
        make_contact(f"c{i}@example.com", lists=[news], first_name=f"C{i}")
    make_contact("gone@example.com", lists=[news])
    from fidele.compliance.models import Suppression

    html, _ = files
    out, _ = run("create", "--name", "N", "--subject", "S", "--from", "a@cave.example",
                 "--html-file", str(html), "--list", "news", "--json")  # fmt: skip
    campaign_id = json.loads(out)["id"]
    Suppression.objects.create(email="gone@example.com", reason="erased")
    out, err = run("send", str(campaign_id), "--wait", "--json")
    payload = json.loads(out)
    assert {k: payload[k] for k in ("sent", "failed", "skipped")} == {
        "sent": 4, "failed": 0, "skipped": 0,
    }  # fmt: skip
    assert isinstance(payload["seconds"], float)
    assert err == ""  # no progress bar with --json
    assert CapturedMessage.objects.count() == 4
    assert Campaign.objects.get(pk=campaign_id).status == "sent"
    # Sending a campaign already sent reports the same totals and sends nothing more.
    again = json.loads(run("send", str(campaign_id), "--wait", "--json")[0])
    assert again["sent"] == 4 and CapturedMessage.objects.count() == 4


def test_send_of_a_missing_campaign_is_an_error():
    with pytest.raises(CommandError):
        run("send", "999999", "--wait", "--json")


def test_create_with_a_bad_template_prints_one_line_naming_the_problem_and_exits_with_1(
    tmp_path, capsys, monkeypatch
):
    from django.core.management import execute_from_command_line
    from django.db import connections

    # run_from_argv closes the connections when it is done, the test's transaction with them
    monkeypatch.setattr(connections, "close_all", lambda: None)
    make_list("news")
    bad = tmp_path / "bad.html"
    bad.write_text("<p>Bonjour</p>\n<p>{{ contact.first_name }</p>\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line([
            "fidele", "campaign", "create", "--name", "N", "--subject", "S",
            "--from", "a@b.example", "--html-file", str(bad), "--list", "news", "--json",
        ])  # fmt: skip
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "body, line 2" in err and "}}" in err
    assert not Campaign.objects.exists()


def test_create_names_a_template_over_a_limit(tmp_path):
    make_list("news")
    bomb = tmp_path / "bomb.html"
    bomb.write_text("<p>{{ ([[1]*20000]*600) | sum(start=[]) | length }}</p>", encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        run("create", "--name", "N", "--subject", "S", "--from", "a@b.example",
            "--html-file", str(bomb), "--list", "news", "--json")  # fmt: skip
    assert str(caught.value).startswith("Template problem (body, line 1): ")


def test_check_prints_the_findings_and_the_spamassassin_score_as_json(monkeypatch):
    from django.core.cache import cache

    from tests.campaigns.test_deliverability import fake_spamassassin
    from tests.factories import make_campaign

    cache.clear()
    fake_spamassassin(monkeypatch)
    campaign = make_campaign(lists=[make_list("news")])
    out, _ = run("check", str(campaign.pk), "--json")
    payload = json.loads(out)
    assert payload["campaign"] == campaign.pk and payload["ok"] is False
    assert payload["score"] == 2.8 and payload["threshold"] == 5.0
    codes = [finding["code"] for finding in payload["findings"]]
    assert "open_pixel_image_only" in codes and "dkim_missing" in codes
    assert set(payload["findings"][0]) == {"code", "severity", "message", "advice", "variant"}
    (message,) = payload["messages"]
    assert message["spamassassin"]["rules"][1] == {
        "name": "HTML_IMAGE_ONLY_24",
        "points": 2.8,
        "description": "BODY: HTML: images with 2000-2400 bytes of words",
    }
    text, _ = run("check", str(campaign.pk))
    assert "SpamAssassin (spamc): 2.8 (spam from 5.0)" in text
    assert "2.8  HTML_IMAGE_ONLY_24" in text and "warning: The open-tracking pixel" in text


def test_check_of_a_missing_campaign_is_an_error():
    with pytest.raises(CommandError, match="no campaign 999"):
        run("check", "999")
