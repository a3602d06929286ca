"""A month of made-up chats for the demo: what happened, when, planned as plain values.

Pure and seeded (no ORM, no clock): ``plan_day`` turns a company, a day and its agents into the
chats of that day — who wrote, about what, which agent picked it up and when they answered,
escalated and resolved it. ``routing_service.tenancy.sample_data`` then plays each chat through
the product's own actions with those times (``now=``), so conversations, assignments, the audit
trail, SLA outcomes, live sessions and the daily roll-up are what the product would have made.

The shape of a day: weekdays busier than weekends, arrivals within the company's local business
hours; most chats are picked within a few minutes and answered within two, one in seven waits
long enough for a tight SLA to be missed; some customers write back, a few chats are escalated
to the supervisor, a few take hours to resolve. A chat is planned only if it ends before
``cutoff``, so nothing is resolved in the future.
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CLIENTS",
    "HISTORY_DAYS",
    "AgentSpec",
    "PlannedChat",
    "Topic",
    "client_name",
    "plan_day",
]

HISTORY_DAYS: Final = 30
CLIENTS: Final = 60  # a company's pool of returning customers
OPENING: Final = dt.time(8, 30)
CLOSING: Final = dt.time(19, 0)


@dataclass(frozen=True, slots=True)
class AgentSpec:
    name: str
    skills: frozenset[str]
    languages: frozenset[str]


@dataclass(frozen=True, slots=True)
class Topic:
    category: str
    language: str
    question: str
    answer: str
    follow_up: str
    follow_up_answer: str
    priority: str | None = None  # as the provider would send it; None: detected


TOPICS: Final = (
    Topic("billing", "en", "I was charged twice for my order this month.",
          "Sorry about that: I have refunded the second charge, it shows in 3-5 days.",
          "Thanks. Will I get a confirmation?", "Yes, a confirmation email is on its way."),
    Topic("billing", "de", "Ich wurde diesen Monat doppelt belastet.",
          "Das tut mir leid: die zweite Abbuchung ist erstattet.",
          "Danke. Bekomme ich eine Bestätigung?", "Ja, die Bestätigung ist unterwegs."),
    Topic("billing", "fr", "Bonjour, ma facture est incorrecte.",
          "Je l'ai corrigée et vous l'ai renvoyée.",
          "Merci, je la reçois par e-mail ?", "Oui, elle est déjà partie."),
    Topic("orders", "en", "Where is my order? It should have arrived yesterday.",
          "It is with the courier and arrives today before 6 pm.",
          "Can they leave it with a neighbour?", "Yes, I have added that to the delivery."),
    Topic("orders", "fr", "Ma commande n'est toujours pas arrivée.",
          "Elle est en cours de livraison et arrive demain.",
          "Merci. Je peux la suivre ?", "Oui, le lien de suivi vous a été envoyé."),
    Topic("returns", "en", "How do I return a jacket that doesn't fit?",
          "Print the prepaid label from your account and drop the parcel at any post office.",
          "Do I get the refund on my card?", "Yes, on the card you paid with."),
    Topic("returns", "en", "My refund hasn't arrived yet.",
          "It was issued yesterday; banks take up to five days.",
          "OK, thanks.", "You're welcome!"),
    Topic("technical", "en", "The app logs me out every few minutes.",
          "Please update to the latest version: it fixes exactly that.",
          "Updated, it works now.", "Great, thanks for letting me know."),
    Topic("technical", "es", "No puedo iniciar sesión en la aplicación.",
          "He restablecido su acceso; pruebe de nuevo, por favor.",
          "Ya funciona, gracias.", "¡De nada!"),
    Topic("technical", "de", "Die App stürzt beim Start ab.",
          "Bitte installieren Sie die neueste Version, die behebt das.",
          "Jetzt geht es, danke.", "Gern geschehen!"),
    Topic("returns", "en", "Do you ship replacements to Norway?",
          "Yes, replacements ship to Norway within a week.",
          "Perfect.", "Have a good day!"),
    Topic("orders", "en", "My order for tomorrow's event is missing an item.",
          "I have sent the missing item by express; it arrives tomorrow morning.",
          "Thank you!", "Good luck with the event!", priority="high"),
    Topic("billing", "en", "URGENT: there is a payment on my card I did not make.",
          "I have blocked the card and opened a fraud case; a new card is on its way.",
          "Thank you, that was quick.", "You're welcome; stay safe."),
)  # fmt: skip
# How often each topic comes up (the urgent fraud report is rare).
TOPIC_WEIGHTS: Final = (10, 4, 4, 12, 4, 8, 6, 9, 4, 4, 3, 3, 2)
assert len(TOPIC_WEIGHTS) == len(TOPICS)

FIRST_NAMES: Final = (
    "Maria", "Tom", "Ana", "Lee", "Jean", "Sofia", "Jonas", "Priya", "Liam", "Chloé", "Mateo",
    "Hana", "Oliver", "Elena", "Noah", "Aisha", "Lukas", "Emma", "Diego", "Yuki",
)  # fmt: skip
LAST_NAMES: Final = (
    "Lopez", "Becker", "Silva", "Wong", "Dupont", "Rossi", "Novak", "Patel", "Murphy",
    "Martin", "Garcia", "Sato", "Smith", "Ivanova", "Müller",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlannedChat:
    """One chat from the customer's first message to its resolution (UTC times)."""

    key: str  # unique per company: its messages' provider ids are "<key>-1", "<key>-2"
    client: int  # index in the company's pool of CLIENTS customers
    topic: Topic
    agent: str  # AgentSpec.name of the agent who picks it up
    arrived_at: dt.datetime
    picked_at: dt.datetime
    replied_at: dt.datetime
    follow_up_at: dt.datetime | None  # the customer writes again…
    answered_at: dt.datetime | None  # …and the agent answers
    escalated_at: dt.datetime | None  # handed to the supervisor, who resolves it
    resolved_at: dt.datetime


def client_name(index: int) -> str:
    return f"{FIRST_NAMES[index % len(FIRST_NAMES)]} {LAST_NAMES[index % len(LAST_NAMES)]}"


def _agent_for(rng: random.Random, topic: Topic, agents: Sequence[AgentSpec]) -> str:
    """Someone with the skill and the language, else the skill, else anyone (as the
    router's skill fallback would)."""
    for fits in (
        [a for a in agents if topic.category in a.skills and topic.language in a.languages],
        [a for a in agents if topic.category in a.skills],
        list(agents),
    ):
        if fits:
            return rng.choice(fits).name
    raise ValueError("no agents")


def _seconds(rng: random.Random, low: float, high: float) -> dt.timedelta:
    return dt.timedelta(seconds=rng.uniform(low, high))


def plan_day(
    seed: str,
    day: dt.date,
    tz: str,
    agents: Sequence[AgentSpec],
    *,
    cutoff: dt.datetime,
) -> list[PlannedChat]:
    """The chats of one local ``day`` at the company of time zone ``tz``, in arrival order;
    those that would not be resolved by ``cutoff`` are left out."""
    rng = random.Random(f"{seed}:{day.isoformat()}")  # str seeds hash with SHA-512: stable
    zone = zoneinfo.ZoneInfo(tz)
    count = rng.randint(0, 2) if day.weekday() >= 5 else rng.randint(3, 6)
    opening = dt.datetime.combine(day, OPENING, tzinfo=zone)
    span = (dt.datetime.combine(day, CLOSING, tzinfo=zone) - opening).total_seconds()
    arrivals = sorted(opening + _seconds(rng, 0, span) for _ in range(count))
    # Different customers within a day: a customer has one open chat at a time.
    clients = rng.sample(range(CLIENTS), count)
    chats = []
    for number, (arrival, client) in enumerate(zip(arrivals, clients, strict=True), start=1):
        topic = rng.choices(TOPICS, TOPIC_WEIGHTS)[0]
        agent = _agent_for(rng, topic, agents)
        arrived = arrival.astimezone(dt.UTC).replace(microsecond=0)
        # One chat in seven waits for a free agent long enough to miss a tight SLA.
        wait = _seconds(rng, 600, 5400) if rng.random() < 0.15 else _seconds(rng, 15, 240)
        picked = arrived + wait
        replied = picked + _seconds(rng, 20, 150)
        last = replied
        follow_up = answered = escalated = None
        if rng.random() < 0.35:
            follow_up = replied + _seconds(rng, 60, 400)
            answered = last = follow_up + _seconds(rng, 30, 240)
        if rng.random() < 0.07:
            escalated = last = last + _seconds(rng, 60, 600)
        # Most chats end within half an hour of the last word; a few drag on for hours.
        long = rng.random() < 0.06
        resolved = last + (_seconds(rng, 7200, 25200) if long else _seconds(rng, 120, 1800))
        if resolved > cutoff:
            continue
        chats.append(
            PlannedChat(
                key=f"history-{day.isoformat()}-{number}",
                client=client,
                topic=topic,
                agent=agent,
                arrived_at=arrived,
                picked_at=picked,
                replied_at=replied,
                follow_up_at=follow_up,
                answered_at=answered,
                escalated_at=escalated,
                resolved_at=resolved,
            )
        )
    return chats
