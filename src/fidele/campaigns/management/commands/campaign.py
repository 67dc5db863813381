"""`fidele campaign create ...` and `fidele campaign send ID --wait`: a CLI contract that
scripts outside the project read (ARCHITECTURE.md).

create  prints {"id": int} with --json
send    prints {"sent": int, "failed": int, "skipped": int, "seconds": float} with --json; the
        counts are the campaign's totals, so a send resumed after a crash reports the whole run.
report  prints, with --json, what the campaign did (fidele.analytics.reports): delivered,
        bounced, opens_human, opens_machine, clicks_human, clicks_machine, unsubscribed,
        complaints, conversions, revenue and more; opens and clicks count distinct recipients.
        The rollup runs first, and the events since it are counted too.
check   the deliverability check (fidele.campaigns.deliverability); with --json one object:
        {"campaign", "ok", "score" (SpamAssassin's, null without it), "threshold", "spam_tool",
        "recipient", "findings": [{"code", "severity", "message", "advice", "variant"}],
        "messages": [{"variant", "size_bytes", ..., "spamassassin": {"score", "rules"}}]}.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from fidele.campaigns.models import Campaign
from fidele.campaigns.rendering.sandbox import TemplateProblem
from fidele.campaigns.sending import CampaignContent, SendError
from fidele.campaigns.tasks import campaign_start, campaign_start_now
from fidele.delivery import selectors
from fidele.delivery.engine import Sender


class Command(BaseCommand):
    help = "Create and send email campaigns from the command line."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a draft campaign.")
        create.add_argument("--name", required=True)
        create.add_argument("--subject", required=True)
        create.add_argument("--from", dest="from_email", required=True)
        create.add_argument("--from-name", default="")
        create.add_argument("--html-file", required=True, type=Path)
        create.add_argument("--text-file", type=Path)
        create.add_argument("--list", dest="lists", action="append", required=True)
        create.add_argument(
            "--segment",
            dest="segments",
            action="append",
            default=[],
            help="Only the lists' subscribers in this segment (name or id; repeatable).",
        )
        create.add_argument(
            "--exclude-segment",
            dest="exclude_segments",
            action="append",
            default=[],
            help="Leave out this segment's contacts (name or id; repeatable).",
        )
        create.add_argument("--json", action="store_true")
        send = sub.add_parser("send", help="Send a campaign now.")
        send.add_argument("campaign_id", type=int)
        send.add_argument(
            "--wait", action="store_true", help="Send from this process until it is done."
        )
        send.add_argument("--json", action="store_true")
        report = sub.add_parser("report", help="What a campaign did: deliveries, opens, clicks.")
        report.add_argument("campaign_id", type=int)
        report.add_argument("--json", action="store_true")
        check = sub.add_parser(
            "check", help="Check the message as it will leave: content, headers, spam score."
        )
        check.add_argument("campaign_id", type=int)
        check.add_argument(
            "--no-spamassassin", dest="spam", action="store_false", help="Skip SpamAssassin."
        )
        check.add_argument("--json", action="store_true")

    def handle(self, *args, action: str, **options):
        if action == "create":
            return self._create(**options)
        if action == "report":
            return self._report(**options)
        if action == "check":
            return self._check(**options)
        return self._send(**options)

    def _report(self, *, campaign_id: int, json: bool, **_):
        from fidele.analytics.reports import campaign_report
        from fidele.analytics.rollup import rollup_fill

        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise CommandError(f"No campaign {campaign_id}.")
        rollup_fill()
        report = campaign_report(campaign_id=campaign.pk)
        lines = [f"{campaign.name} (#{campaign.pk}, {campaign.get_status_display()})"]
        for key in (
            "sent", "delivered", "bounced", "opens_human", "opens_machine", "clicks_human",
            "clicks_machine", "unsubscribed", "complaints",
        ):  # fmt: skip
            lines.append(f"{key:<16}{report[key]}")
        self._print(report, as_json=json, text="\n".join(lines))

    def _create(self, *, name, subject, from_email, from_name, html_file, text_file, lists,
                json: bool, segments=(), exclude_segments=(), **_):  # fmt: skip
        from fidele.campaigns.services import CampaignError, campaign_create

        try:
            html = html_file.read_text(encoding="utf-8")
            text = text_file.read_text(encoding="utf-8") if text_file else ""
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        try:
            campaign = campaign_create(
                name=name,
                subject=subject,
                from_email=from_email,
                from_name=from_name,
                html=html,
                text=text,
                lists=lists,
                segments=segments,
                exclude_segments=exclude_segments,
            )
        except TemplateProblem as problem:
            # One line naming the part, the line and the problem; Django prints it without a
            # traceback and exits with 1.
            raise CommandError(_template_problem_line(problem)) from problem
        except CampaignError as exc:
            raise CommandError(str(exc)) from exc
        self._print({"id": campaign.pk}, as_json=json, text=f"Campaign {campaign.pk} created.")

    def _send(self, *, campaign_id: int, wait: bool, json: bool, **_):
        started = time.monotonic()
        if not wait:
            campaign_start.enqueue(campaign_id)
            self._print(
                {"id": campaign_id, "queued": True},
                as_json=json,
                text="Queued: a worker (fidele worker) will send it.",
            )
            return
        status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
        if status is None:
            raise CommandError(f"no campaign {campaign_id}")
        if status != Campaign.Status.SENT:  # a campaign already sent: report its totals
            try:
                campaign_start_now(campaign_id=campaign_id)
            except SendError as exc:
                raise CommandError(str(exc)) from exc
        counts = selectors.campaign_counts(campaign_id=campaign_id)
        bar = None
        if not json:
            from tqdm import tqdm

            bar = tqdm(
                total=counts["total"],
                initial=counts["sent"] + counts["failed"] + counts["skipped"],
                unit="msg",
                file=sys.stderr,
                desc=f"campaign {campaign_id}",
            )

        def on_result(outcome: str) -> None:
            if bar is not None and outcome in ("sent", "failed", "skipped"):
                bar.update(1)

        sender = Sender(on_result=on_result)

        def stop(signum, frame):
            # Ctrl-C or a service manager's SIGTERM: finish the message in flight, put the rest
            # of the batch back in the queue, report.
            sender.stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            summary = sender.run(CampaignContent(campaign_id), wait=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if bar is not None:
            bar.close()
        counts = selectors.campaign_counts(campaign_id=campaign_id)
        result = {
            "sent": counts["sent"],
            "failed": counts["failed"],
            "skipped": counts["skipped"],
            "seconds": round(time.monotonic() - started, 3),
        }
        if summary.paused_reason:
            result["paused"] = summary.paused_reason
        if counts["held"]:
            result["held"] = counts["held"]
        self._print(
            result,
            as_json=json,
            text=(
                f"Sent {result['sent']}, failed {result['failed']}, skipped {result['skipped']} "
                f"in {result['seconds']} s."
                + (f"\n{summary.paused_reason}" if summary.paused_reason else "")
            ),
        )

    def _check(self, *, campaign_id: int, spam: bool, json: bool, **_):
        from fidele.campaigns.deliverability import campaign_deliverability_check

        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise CommandError(f"no campaign {campaign_id}")
        # In English, like the rest of this command's output (and the codes scripts read).
        with translation.override("en"):
            try:
                report = campaign_deliverability_check(campaign=campaign, spam=spam)
            except TemplateProblem as problem:
                raise CommandError(_template_problem_line(problem)) from problem
            self._print(report.as_dict(), as_json=json, text=_check_text(report))

    def _print(self, payload: dict, *, as_json: bool, text: str) -> None:
        if as_json:
            self.stdout.write(json.dumps(payload))
        else:
            self.stdout.write(text)


def _template_problem_line(problem: TemplateProblem) -> str:
    where = f"{problem.part}, line {problem.line}" if problem.line else problem.part
    message = " ".join(str(problem.message).split())
    return f"Template problem ({where}): {message}"


def _check_text(report) -> str:
    lines = [f"Campaign {report.campaign_id}, as sent to {report.recipient}:"]
    for message in report.messages:
        prefix = f"[{message.label}] " if message.label else ""
        lines.append(f"  {prefix}{message.summary()}")
        for finding in message.findings:
            lines.append(f"  {prefix}{finding.severity}: {finding.message}")
            if finding.advice:
                lines.append(f"  {' ' * len(prefix)}    {finding.advice}")
        if message.spam is not None:
            lines.append(
                f"  {prefix}SpamAssassin ({message.spam.tool}): {message.spam.score:.1f} "
                f"(spam from {message.spam.threshold:.1f})"
            )
            for rule in message.spam.rules_scored:
                lines.append(f"    {rule.points:5.1f}  {rule.name}  {rule.description}")
        elif message.spam_error:
            lines.append(f"  {prefix}{message.spam_error}")
    if not report.spam_tool:
        lines.append("  SpamAssassin is not installed: no spam score.")
    lines.append("All is well." if report.ok else "Some points need a look before sending.")
    return "\n".join(lines)
