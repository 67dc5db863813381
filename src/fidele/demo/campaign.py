"""The demo shop's last newsletter, sent two weeks before the reference date, and what its
readers did: so that a newcomer's first campaign report shows people and machines apart,
clicks per link, mail clients and the orders it brought.

What the recipients did is drawn from published orders of magnitude for a small shop's
newsletter (about a third of messages opened by Apple's privacy proxy, a quarter by people,
3 to 4 % clicked, a few scanner bursts, 1 % bounces), with a random generator of its own so
that the rest of the demo shop does not change. Customers who ordered in the week after the
send are the likeliest clickers: the report credits their orders to the campaign.
"""

from __future__ import annotations

import datetime as dt
from random import Random
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from fidele.analytics.rollup import rollup_fill
from fidele.campaigns.layouts import layout_default
from fidele.campaigns.models import Campaign
from fidele.campaigns.services import campaign_create
from fidele.commerce.models import Order
from fidele.contacts.models import Subscription
from fidele.core.actors import Actor
from fidele.delivery.models import OutboxMessage
from fidele.tracking.models import EmailEvent

LINKS = (
    "https://cave-et-terroir.fr/vins/primeurs",
    "https://cave-et-terroir.fr/fromages",
    "https://cave-et-terroir.fr/ateliers",
)
# (mail client, device, share of people's opens)
CLIENTS = (
    ("Apple Mail", "mobile", 0.38),
    ("GmailImageProxy", "proxy", 0.24),
    ("Outlook", "desktop", 0.14),
    ("Chrome Mobile", "mobile", 0.10),
    ("Apple Mail", "desktop", 0.08),
    ("Thunderbird", "desktop", 0.06),
)
BODY = (
    "<h1>Les primeurs sont arrivés</h1>"
    "<p>Bonjour {{ contact.first_name | default('à vous') }},</p>"
    "<p>Les vins primeurs de nos vignerons sont en cave depuis ce matin : venez les goûter "
    "samedi, ou réservez vos bouteilles en ligne.</p>"
    f'<p><a href="{LINKS[0]}">Découvrir les primeurs</a></p>'
    "<p>Pour les accompagner, nos fromages affinés de saison "
    f'(<a href="{LINKS[1]}">voir la sélection</a>) et un atelier dégustation le mois '
    f'prochain (<a href="{LINKS[2]}">s’inscrire</a>).</p>'
    "<p>À très bientôt à la cave,<br>Léa</p>"
)


def _hours(rng: Random, mean: float) -> dt.timedelta:
    # Most people read in the first hours, some days later.
    return dt.timedelta(hours=min(rng.expovariate(1 / mean), 24 * 6))


def demo_past_campaign_send(*, today: dt.date, seed: int, actor: Actor = None) -> Campaign:
    rng = Random(seed + 1)
    newsletter = _newsletter_ids()
    tz = ZoneInfo(settings.TIME_ZONE)
    sent_at = dt.datetime.combine(today - dt.timedelta(days=14), dt.time(10, 0), tzinfo=tz)
    campaign = campaign_create(
        name="Lettre des primeurs",
        subject="{{ contact.first_name | default('Bonjour') }}, les primeurs sont arrivés",
        from_email="lea@cave-et-terroir.fr",
        from_name="Léa, Cave & Terroir",
        html=BODY,
        layout=layout_default(),
        lists=newsletter,
        actor=actor,
    )
    recipients = list(
        Subscription.objects.filter(
            mailing_list_id__in=newsletter,
            status=Subscription.Status.SUBSCRIBED,
            contact__email__isnull=False,
        )
        .values_list("contact_id", "contact__email")
        .distinct()
    )
    outbox = OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                campaign=campaign,
                contact_id=contact_id,
                email=email,
                status=OutboxMessage.Status.SENT,
                attempts=1,
                sent_at=sent_at + dt.timedelta(seconds=index // 20),
                message_id=f"<demo-{campaign.pk}-{contact_id}@cave-et-terroir.fr>",
            )
            for index, (contact_id, email) in enumerate(recipients)
        ],
        batch_size=1000,
    )
    buyers = set(
        Order.objects.filter(
            contact_id__in=[r[0] for r in recipients],
            ordered_at__gte=sent_at,
            ordered_at__lt=sent_at + dt.timedelta(days=7),
        ).values_list("contact_id", flat=True)
    )
    first_orders = {}
    for contact_id, ordered_at in Order.objects.filter(contact_id__in=buyers).values_list(
        "contact_id", "ordered_at"
    ):
        if ordered_at >= sent_at and (
            contact_id not in first_orders or ordered_at < first_orders[contact_id]
        ):
            first_orders[contact_id] = ordered_at
    events: list[EmailEvent] = []

    def add(message: OutboxMessage, type: str, at: dt.datetime, **fields: object) -> None:
        events.append(
            EmailEvent(
                type=type,
                at=at,
                campaign=campaign,
                contact_id=message.contact_id,
                outbox=message,
                is_machine=bool(fields.get("reason")),
                **fields,
            )
        )

    clients = [c[:2] for c in CLIENTS]
    weights = [c[2] for c in CLIENTS]
    for message in outbox:
        assert message.sent_at is not None
        draw = rng.random()
        if draw < 0.012:
            kind = "hard" if rng.random() < 0.6 else "soft"
            add(
                message, "bounce", message.sent_at + dt.timedelta(minutes=2), details={"kind": kind}
            )
            continue
        if rng.random() < 0.34:  # an iPhone or a Mac with Mail Privacy Protection
            add(message, "open", message.sent_at + dt.timedelta(seconds=rng.randint(20, 900)),
                reason=EmailEvent.Reason.APPLE_PRIVACY, network="172.224.226.0/24")  # fmt: skip
        if rng.random() < 0.03:  # a company's security gateway follows every link at once
            at = message.sent_at + dt.timedelta(seconds=rng.randint(20, 60))
            for offset, url in enumerate(LINKS):
                add(message, "click", at + dt.timedelta(milliseconds=300 * offset), url=url,
                    reason=EmailEvent.Reason.BURST, device="robot")  # fmt: skip
        buyer = message.contact_id in first_orders
        if rng.random() < (0.8 if buyer else 0.24):
            client, device = rng.choices(clients, weights)[0]
            opened = message.sent_at + _hours(rng, 8)
            if buyer:
                opened = min(opened, first_orders[message.contact_id] - dt.timedelta(hours=2))
                opened = max(opened, message.sent_at + dt.timedelta(minutes=5))
            add(message, "open", opened, client=client, device=device)
            if rng.random() < (0.7 if buyer else 0.12):
                url = rng.choices(LINKS, (0.6, 0.3, 0.1))[0]
                add(message, "click", opened + dt.timedelta(seconds=rng.randint(5, 120)),
                    url=url, client=client, device=device)  # fmt: skip
                if rng.random() < 0.03:
                    add(message, "unsubscribe", opened + dt.timedelta(minutes=3))
    EmailEvent.objects.bulk_create(events, batch_size=2000)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.SENT,
        started_at=sent_at,
        finished_at=sent_at + dt.timedelta(seconds=len(outbox) // 20 + 1),
    )
    # The report reads counts, not raw events: fill them now rather than at the next hour (the
    # readers' last engagement, which the data-quality audit reads, moves with them).
    rollup_fill(now=timezone.now())
    return campaign


def _newsletter_ids() -> list[int]:
    from fidele.contacts.models import MailingList

    return list(MailingList.objects.filter(name="Newsletter").values_list("pk", flat=True))
