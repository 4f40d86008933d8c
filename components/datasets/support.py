"""Synthetic customer-support tickets: one message, five related labels (the project's support-bot scenario).

No public support-ticket data set ships offline, so this generator writes a reproducible one. Every row is a
ticket: a free-text ``message`` plus structured columns, and five labels. The rules below are the whole
generating process, so results on the data can be reasoned about.

Columns (``COLUMNS``):
  ticket_id         "T0000001"…, unique, never a feature
  message           English text (see "Message")
  channel           email 30 %, chat 30 %, app 20 %, phone 10 %, social 10 %; empty in 1 % of rows
  tier              free 45 %, plus 30 %, premium 18 %, enterprise 7 %
  account_age_days  1 + exponential (mean 600) days; empty in 3 % of rows
  orders_90d        Poisson(1 / 2.5 / 4 / 8 by tier)
  hour              0–23; chat/app/social peak in the evening, email/phone in office hours
  intent            multiclass, 12 intents (``INTENTS``); ``unauthorized_charge`` is the long tail (0.5 %)
  keywords          multilabel, ``|``-separated ``KEYWORDS`` mentioned in the message; annotated on 30 % of
                    rows (empty cell elsewhere); an annotator misses each keyword with probability 3 %
  sentiment         negative / neutral / positive; empty in 2 % of rows
  escalate          0/1
  handling_minutes  float; empty in 3 % of rows (ticket still open)
  slot_tags         one BIO tag per token of ``message`` (Transform's tokens: runs of letters, digits and
                    apostrophes): the filled slots, typed by the slot's name (``B-order I-order``, ``B-date``, ...)

Intent: drawn from ``INTENTS`` shares, re-weighted by the row's structure (enterprise customers ask for
invoices 3× as often, customers with ≥ 5 orders in 90 days ask about order status 1.5× as often).

Message: optional greeting + one of the intent's templates (9–13 paraphrases each, some of two or three words; in 8 % of rows instead a
vague opening shared by all intents, "need help with my order") whose slots ({order},
{product}, {date}, {package}, {refund}, {payment}, {invoice}, {account}) are filled from synonym lists +
optional filler + in 12 % of rows a second intent's clause ("also, ...") + sentiment cues + noise. Each slot
and some template words carry a keyword (``{package}`` -> delivery, ``{date}`` -> date, "hacked" ->
security, ...): ``keywords`` is exactly the set mentioned, so it is learnable from the text. Noise: each word
longer than 3 letters has a 4 % typo (swap, drop or doubled letter); 3 % of messages end with an emoticon or
emoji; angry messages are sometimes upper-cased or end in "!!!".

Sentiment: a latent mood drawn per intent (``Intent.negative`` / ``Intent.positive``; e.g. delivery problems
55 % negative), shown by a cue phrase in 80 % of negative and 75 % of positive messages (neutral ones say
"thanks" 15 % of the time, like many positive ones); 4 % of labels are then re-drawn at random (annotator noise).

Escalate: Bernoulli(sigmoid(z)), z = -3 + 2.0·[negative] − 0.8·[positive] + tier (plus .3, premium .8,
enterprise 1.5) + ``Intent.escalation`` + 1.5·[security words in the message] + 0.6·[hour < 7 or > 21]
+ 0.5·[channel social]. Related to sentiment, tier and intent by construction.

Handling minutes: ``Intent.minutes`` × channel factor (phone 1.4, email 1.3, social 1.1, chat 1.0, app 0.9)
× 1.25 if negative × 1.3 if the message has a second intent × 1.2 for enterprise, + 0.05 per word, ×
log-normal noise (σ 0.25); rounded to 0.1.

The long tail: ``unauthorized_charge`` (0.5 % of rows, so dozens of training rows in a 10k-row set) shares
"payment" words with ``payment_issue`` and "security" words (hacked, not me, without permission) with the
compromised-account variant of ``account_access``. The dense tasks learn those directions from every row:
security words always raise ``escalate`` and are ``keywords`` — which is what a shared representation can
lend to the rare intent.

    mtl data support [--rows N] [--seed S] [--eval-fraction F] [--out DIR]
"""
from __future__ import annotations

import csv
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from pipeline.files import atomic_file

COLUMNS = ("ticket_id", "message", "channel", "tier", "account_age_days", "orders_90d", "hour",
           "intent", "keywords", "sentiment", "escalate", "handling_minutes", "slot_tags")
KEYWORDS = ("order", "refund", "delivery", "invoice", "account", "payment", "date", "product", "security")
SENTIMENTS = ("negative", "neutral", "positive")
CHANNELS = {"email": 0.30, "chat": 0.30, "app": 0.20, "phone": 0.10, "social": 0.10}
TIERS = {"free": 0.45, "plus": 0.30, "premium": 0.18, "enterprise": 0.07}
LONG_TAIL = "unauthorized_charge"


@dataclass(frozen=True)
class Intent:
    share: float                 # prior share of rows
    templates: Tuple[str, ...]   # paraphrases; {slot}s are filled, [security] marks security words
    also: str                    # the clause used when this intent is a message's second intent
    negative: float              # P(mood = negative)
    positive: float              # P(mood = positive)
    escalation: float            # added to the escalate logit
    minutes: float               # base handling time


INTENTS: Dict[str, Intent] = {
    "order_status": Intent(0.14, (
        "where is {order}", "any update on {order} from {date}?", "has {order} shipped yet",
        "can you tell me when {order} will arrive", "tracking for {order} hasn't changed since {date}",
        "i'm still waiting for {order}", "status of {order} please", "when does the {product} ship",
        "is {order} on its way", "how long until {order} gets here", "where is my stuff", "order status?", "tracking number for {order}?"),
        "also when will {order} arrive", 0.30, 0.15, 0.0, 4.0),
    "cancel_order": Intent(0.10, (
        "i want to cancel {order}", "please cancel {order} i placed {date}", "cancel my order for the {product}",
        "can i still cancel {order}", "i changed my mind about the {product}, please cancel it",
        "stop {order} before it ships", "need to cancel the {product} i bought {date}", "cancel {order}", "cancel it please", "cancellation of {order}"),
        "also please cancel {order}", 0.20, 0.10, 0.0, 5.0),
    "refund_request": Intent(0.11, (
        "i want {refund} for the {product}", "when will i get {refund}", "still waiting for {refund} for {order}",
        "i sent back the {product} {date} but haven't received {refund}", "please sort out {refund} for {order}",
        "how long does {refund} take", "i'd like {refund}, the {product} is not what i ordered", "where is {refund}", "refund status?", "{refund}?", "did you send {refund} yet"),
        "and i still want {refund}", 0.40, 0.10, 0.5, 9.0),
    "return_item": Intent(0.09, (
        "how do i return the {product}", "i need to send back the {product}",
        "the {product} doesn't fit, can i return it", "can you send a return label for {order}",
        "i want to exchange the {product} for a different size", "what is the return policy for the {product}",
        "return window for {order}?", "return the {product}", "how to return?", "exchange the {product}"),
        "also how do i return the {product}", 0.15, 0.15, 0.0, 7.0),
    "delivery_problem": Intent(0.12, (
        "{package} arrived damaged", "{package} never arrived", "{package} was left at the wrong address",
        "courier says delivered {date} but nothing here", "{package} is late, it was due {date}",
        "items missing from {package}", "{package} came open and the {product} is broken",
        "driver never showed up with {package}", "where is {package}", "{package} broken", "{package} lost"),
        "plus {package} was late again", 0.55, 0.05, 0.6, 10.0),
    "payment_issue": Intent(0.08, (
        "{payment} was declined", "i was charged twice for {order}", "payment failed when i tried to check out",
        "why was {payment} charged twice", "can't pay with {payment}", "the payment for {order} went through twice",
        "checkout keeps rejecting {payment}", "i got charged but {order} shows unpaid", "double charged", "{payment} declined", "payment error"),
        "also {payment} was charged twice", 0.45, 0.05, 0.8, 11.0),
    "invoice_request": Intent(0.07, (
        "can i get {invoice} for {order}", "please send {invoice}", "i need {invoice} with my company name",
        "where can i download {invoice} for {order}", "{invoice} shows the wrong address",
        "accounting needs {invoice} for the {product} bought {date}", "{invoice} please", "invoice?", "need a receipt"),
        "also please send {invoice}", 0.10, 0.20, -0.5, 5.0),
    "account_access": Intent(0.08, (
        "i can't log into {account}", "forgot my password for {account}", "password reset email never arrives",
        "{account} is locked", "two factor code is not working", "can't sign in since {date}",
        "someone [hacked] {account}", "i got a login alert that [wasn't me]",
        "{account} was [accessed without permission]", "can't login", "reset password", "locked out"),
        "also i can't log into {account}", 0.35, 0.05, 0.4, 8.0),
    "update_account": Intent(0.06, (
        "how do i change the email on {account}", "update the address on {account}",
        "please change my phone number", "i want to update my shipping address",
        "change the name on {account}", "how can i switch {account} to a different email", "new address", "change email", "update my details"),
        "and please update the address on {account}", 0.05, 0.25, -0.5, 4.0),
    "product_question": Intent(0.07, (
        "does the {product} come with a warranty", "is the {product} in stock", "what size should i get for the {product}",
        "is the {product} dishwasher safe", "when will the {product} be back in stock",
        "what's the difference between the two {product} models", "does the {product} work outside the us", "{product} in stock?", "warranty on the {product}?", "{product} sizes?"),
        "btw is the {product} in stock", 0.05, 0.30, -1.0, 6.0),
    "change_order": Intent(0.075, (
        "can i change the address for {order}", "i need to add an item to {order}",
        "change the size of the {product} in {order}", "switch {order} to express shipping",
        "can you change the delivery date of {order} to {date}", "i ordered the wrong color {product}, can i change it", "change {order}", "different size for {order}", "edit {order}"),
        "also can i change the address for {order}", 0.15, 0.15, 0.0, 6.0),
    LONG_TAIL: Intent(0.005, (
        "there's a charge on {payment} i [didn't make]", "i see an [unauthorized] payment from {date}",
        "someone used {payment} [without permission]", "i did [not authorize] this purchase of a {product}",
        "[fraudulent] charge on my statement {date}", "{payment} was charged for {order} that [isn't mine]",
        "i think my card was [stolen], there are payments i don't recognise", "[fraud] on {payment}", "[unknown] charge on {payment}", "charge i [don't recognise]"),
        "and there is a charge i [didn't make]", 0.70, 0.02, 3.5, 22.0),
}
assert abs(sum(i.share for i in INTENTS.values()) - 1.0) < 1e-9 and len(INTENTS) == 12

# slot -> (keyword, fillers); "{num}" inside a filler becomes a random order number.
SLOTS: Dict[str, Tuple[Optional[str], Tuple[str, ...]]] = {
    "order": ("order", ("my order", "order {num}", "order #{num}", "my purchase", "the order", "order number {num}",
                        "my last order", "my recent order")),
    "product": ("product", (
        "headphones", "coffee maker", "running shoes", "phone case", "blender", "winter jacket", "desk lamp",
        "backpack", "smart watch", "yoga mat", "air fryer", "office chair", "usb charger", "sneakers", "jeans",
        "vacuum cleaner", "bluetooth speaker", "water bottle", "kettle", "monitor", "keyboard", "sofa cover",
        "baby stroller", "tent", "camera", "gaming mouse", "printer ink", "mattress", "toaster", "sunglasses")),
    "date": ("date", ("yesterday", "last week", "last monday", "3 days ago", "two weeks ago", "this morning",
                      "last friday", "a month ago", "earlier today", "10 days ago", "over the weekend")),
    "package": ("delivery", ("the package", "my parcel", "the delivery", "my shipment", "the box", "my package")),
    "refund": ("refund", ("a refund", "my money back", "the refund", "a reimbursement", "my refund")),
    "payment": ("payment", ("my card", "my credit card", "my paypal", "my debit card", "the card on file")),
    "invoice": ("invoice", ("an invoice", "the receipt", "a vat invoice", "the bill", "a proper invoice")),
    "account": ("account", ("my account", "my profile", "the account", "my login")),
}
TEMPLATE_KEYWORDS = {"charged": "payment", "payment": "payment", "pay ": "payment", "password": "account",
                     "log into": "account", "sign in": "account", "login": "account", "shipping": "delivery",
                     "ships": "delivery", "shipped": "delivery", "courier": "delivery", "driver": "delivery"}

# Vague openings that say nothing about the intent (8 % of messages use one instead of the intent's template).
VAGUE = ("i have a problem with {order}", "need help with {order}", "question about {order}",
         "something is wrong with {order}", "can someone look at {order}", "issue with the {product}",
         "please call me about {order}", "it's about the {product} from {date}")
GREETINGS = ("hi", "hello", "hey", "hi there", "good morning", "dear support", "hello team", "hey guys")
FILLERS = ("just wondering.", "quick question.", "please help.", "asap please.", "thanks in advance.",
           "let me know.", "fyi.", "i need this sorted today.", "sorry to bother you.")
CUES = {
    "negative": ("this is ridiculous", "i'm so frustrated", "worst service ever", "this is unacceptable",
                 "very disappointed", "i'm really angry", "seriously?!", "third time i'm asking",
                 "terrible experience", "i'm fed up", "never ordering again", "so annoyed right now"),
    "positive": ("thanks so much!", "you guys are awesome", "love your service", "great job as always",
                 "really appreciate it", "have a nice day :)", "you've always been helpful", "thank you, great shop"),
    "neutral": ("thanks", "thank you", "regards", "cheers"),
}
EMOTICONS = {"negative": (":(", "😡", "😤"), "positive": (":)", "🙂", "👍"), "neutral": ("🙏", ":)")}
CHANNEL_MINUTES = {"phone": 1.4, "email": 1.3, "social": 1.1, "chat": 1.0, "app": 0.9}
TIER_ESCALATION = {"free": 0.0, "plus": 0.3, "premium": 0.8, "enterprise": 1.5}
TIER_ORDERS = {"free": 1.0, "plus": 2.5, "premium": 4.0, "enterprise": 8.0}


class SupportDataError(ValueError):
    """Invalid generator arguments or an output that cannot be written."""


@dataclass
class Ticket:
    message: str
    keywords: List[str]
    security: bool
    mixed: bool
    tags: str = ""  # one BIO tag per token of the message (the filled slots)


def _pick(rng: random.Random, weights: Dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _poisson(rng: random.Random, lam: float) -> int:
    threshold, k, p = math.exp(-lam), 0, rng.random()
    while p > threshold:
        k += 1
        p *= rng.random()
    return k


def _typo(rng: random.Random, word: str) -> str:
    if len(word) <= 3 or not word.isalpha() or rng.random() >= 0.04:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def _fill(rng: random.Random, template: str, keywords: set) -> Tuple[str, bool]:
    """Fill a template's slots; collect the keywords it mentions; report security words ([...])."""
    security = "[" in template
    if security:
        keywords.add("security")
        template = template.replace("[", "").replace("]", "")
    for marker, keyword in TEMPLATE_KEYWORDS.items():
        if marker in template:
            keywords.add(keyword)
    while "{" in template:
        start = template.index("{")
        slot = template[start + 1: template.index("}", start)]
        keyword, fillers = SLOTS[slot]
        value = rng.choice(fillers).replace("{num}", str(rng.randrange(10000, 999999)))
        keywords.add(keyword)
        template = template.replace("{" + slot + "}", f"{SLOT_OPEN}{slot}{SLOT_VALUE}{value}{SLOT_CLOSE}", 1)
    return template, security


# A filled slot is marked in the message being composed as OPEN name VALUE text CLOSE; `_untag` removes the marks
# and derives the tags. The marks never reach a random decision (see `_marked_typo`), so the tickets are the same
# as the generator wrote before it tagged slots.
SLOT_OPEN, SLOT_VALUE, SLOT_CLOSE = "\x01", "\x02", "\x03"
_MARKED = re.compile("^((?:\x01[a-z]+\x02)?)([^\x01\x02\x03]*)(\x03?)$")


def _unmarked(text: str) -> str:
    return re.sub("\x01[A-Za-z]+\x02|\x03", "", text)


def _marked_typo(rng: random.Random, word: str) -> str:
    """`_typo` decided on the word without its slot marks (the same random draws as on the plain word); a typo
    only hits all-letter words, whose marks can only sit at their start and end."""
    plain = _unmarked(word)
    typo = _typo(rng, plain)
    if typo == plain:
        return word
    found = _MARKED.match(word)
    return found.group(1) + typo + found.group(3) if found else typo


def _capitalized(text: str) -> str:
    """The first letter upper-cased (after a slot's opening mark)."""
    found = re.match("\x01[a-z]+\x02", text)
    at = found.end() if found else 0
    return text[:at] + text[at:at + 1].upper() + text[at + 1:]


def is_token_char(char: str) -> bool:
    """Transform's token characters (components/transform.py: letters, digits, apostrophes)."""
    return char.isalnum() or char == "'"


def _untag(text: str) -> Tuple[str, str]:
    """(message without marks, one BIO tag per token): a token takes the slot of its first character."""
    plain, owner, slot, span = [], [], None, 0
    i = 0
    while i < len(text):
        if text[i] == SLOT_OPEN:
            end = text.index(SLOT_VALUE, i)
            slot, span, i = text[i + 1:end].lower(), span + 1, end + 1
            continue
        if text[i] == SLOT_CLOSE:
            slot, i = None, i + 1
            continue
        plain.append(text[i])
        owner.append((slot, span) if slot else None)
        i += 1
    tags, previous, start = [], None, None
    for j, char in enumerate(plain + [" "]):
        if is_token_char(char):
            if start is None:
                start = j
            continue
        if start is not None:
            here = owner[start]
            tags.append("O" if here is None else ("I-" if here == previous else "B-") + here[0])
            previous, start = here, None
    return "".join(plain), " ".join(tags)


def message_for(rng: random.Random, intent: str, mood: str) -> Ticket:
    """Compose one message for an intent and a mood (see the module docstring)."""
    keywords: set = set()
    vague = rng.random() < 0.08
    body, security = _fill(rng, rng.choice(VAGUE if vague else INTENTS[intent].templates), keywords)
    parts = []
    if rng.random() < 0.45:
        parts.append(rng.choice(GREETINGS) + rng.choice((",", "", "!", " -")))
    parts.append(body + rng.choice((".", "", "?", "!")) if body[-1] not in ".?!" else body)
    if rng.random() < 0.25:
        parts.append(rng.choice(FILLERS))
    mixed = rng.random() < 0.12
    if mixed:
        second = rng.choice([name for name in INTENTS if name != intent])
        clause, second_security = _fill(rng, INTENTS[second].also, keywords)
        security = security or second_security
        parts.append(clause + ".")
    cue_probability = {"negative": 0.80, "positive": 0.75, "neutral": 0.15}[mood]
    if rng.random() < cue_probability:
        parts.append(rng.choice(CUES[mood]))
        if mood == "negative" and rng.random() < 0.25:
            parts.append(rng.choice(CUES[mood]))
    words = " ".join(parts).split(" ")
    text = " ".join(_marked_typo(rng, w) for w in words)
    if mood == "negative" and rng.random() < 0.15:
        text = text.upper() if rng.random() < 0.4 else text + "!!!"
    elif rng.random() < 0.1:
        text = _capitalized(text)
    if rng.random() < 0.03:
        text += " " + rng.choice(EMOTICONS[mood])
    text, tags = _untag(text)
    # annotators miss a keyword now and then; the set is walked in sorted order so that which keyword a draw
    # removes does not depend on the process's string-hash seed (PYTHONHASHSEED)
    annotated = [k for k in sorted(keywords) if rng.random() >= 0.03]
    return Ticket(text, annotated, security, mixed, tags)


def _intent_weights(tier: str, orders: int) -> Dict[str, float]:
    weights = {name: intent.share for name, intent in INTENTS.items()}
    if tier == "enterprise":
        weights["invoice_request"] *= 3.0
    if orders >= 5:
        weights["order_status"] *= 1.5
    return weights


def _hour(rng: random.Random, channel: str) -> int:
    if channel in ("email", "phone"):
        return int(min(23, max(0, rng.gauss(13, 3.5))))
    return int(min(23, max(0, rng.gauss(19, 4.5)))) if rng.random() < 0.8 else rng.randrange(24)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def tickets(rows: int, seed: int) -> Iterator[Dict[str, str]]:
    """Yield ``rows`` tickets as CSV-ready dicts keyed by ``COLUMNS``; deterministic for a seed."""
    rng = random.Random(seed)
    for index in range(rows):
        channel = _pick(rng, CHANNELS)
        tier = _pick(rng, TIERS)
        orders = _poisson(rng, TIER_ORDERS[tier])
        hour = _hour(rng, channel)
        age = 1 + int(rng.expovariate(1 / 600))
        intent = _pick(rng, _intent_weights(tier, orders))
        spec = INTENTS[intent]
        mood = _pick(rng, {"negative": spec.negative, "positive": spec.positive,
                           "neutral": 1.0 - spec.negative - spec.positive})
        ticket = message_for(rng, intent, mood)
        z = (-3.0 + 2.0 * (mood == "negative") - 0.8 * (mood == "positive") + TIER_ESCALATION[tier]
             + spec.escalation + 1.5 * ticket.security + 0.6 * (hour < 7 or hour > 21) + 0.5 * (channel == "social"))
        escalate = int(rng.random() < _sigmoid(z))
        minutes = spec.minutes * CHANNEL_MINUTES[channel] * (1.25 if mood == "negative" else 1.0)
        minutes *= (1.3 if ticket.mixed else 1.0) * (1.2 if tier == "enterprise" else 1.0)
        minutes = (minutes + 0.05 * len(ticket.message.split())) * rng.lognormvariate(0.0, 0.25)
        sentiment = rng.choice(SENTIMENTS) if rng.random() < 0.04 else mood
        yield {
            "ticket_id": f"T{seed % 1000:03d}{index:07d}",
            "message": ticket.message,
            "channel": "" if rng.random() < 0.01 else channel,
            "tier": tier,
            "account_age_days": "" if rng.random() < 0.03 else str(age),
            "orders_90d": str(orders),
            "hour": str(hour),
            "intent": intent,
            "keywords": "|".join(ticket.keywords) if rng.random() < 0.30 else "",
            "sentiment": "" if rng.random() < 0.02 else sentiment,
            "escalate": str(escalate),
            "handling_minutes": "" if rng.random() < 0.03 else f"{minutes:.1f}",
            "slot_tags": ticket.tags,
        }


def write_csv(rows: Sequence[Dict[str, str]], path: Path) -> None:
    """Write rows under a ``COLUMNS`` header, atomically (a temporary file in the same folder, then rename)."""
    with atomic_file(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def generate(out_dir, rows: int = 20000, seed: int = 7, eval_fraction: float = 0.2) -> Dict[str, object]:
    """Write ``out_dir/{train,eval}.csv``: ``rows`` tickets, the last ``eval_fraction`` of them in eval."""
    if rows < 10:
        raise SupportDataError(f"--rows: {rows} is too few; expected at least 10")
    if not 0.0 < eval_fraction < 1.0:
        raise SupportDataError(f"--eval-fraction: {eval_fraction} is not between 0 and 1 (exclusive)")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SupportDataError(f"--out: {out_dir} exists and is not a directory")
    data = list(tickets(rows, seed))
    n_eval = max(1, round(rows * eval_fraction))
    result: Dict[str, object] = {"rows": rows, "seed": seed}
    for split, part in (("train", data[:-n_eval]), ("eval", data[-n_eval:])):
        path = out_dir / f"{split}.csv"
        write_csv(part, path)
        result[split] = str(path)
        result[f"{split}_rows"] = len(part)
    result["long_tail_train_rows"] = sum(r["intent"] == LONG_TAIL for r in data[:-n_eval])
    return result
