"""Pure folds of the webhooks read model: a tenant's subscriptions (never their secret),
the index of which active subscription wants which trigger, and the `webhook` channel's
outbox deliveries with every attempt.

A delivery row is the deliveries read model's row (projections/deliveries: one fold of
the outbox for both), with the trigger it carries and the subscription it goes to.
Fields whose names start with `_` are the projection's own (sort keys); the view drops
them. Every sort key starts with its partition (a tenant or a subscription) and a `|`.
"""

from __future__ import annotations

from typing import Any

from domain.outbox.delivery import Delivery
from domain.webhooks.application import WEBHOOK
from domain.webhooks.subscription import Subscription
from projections.deadlines.evolve import sort_key
from projections.deliveries.evolve import evolve as evolve_outbox
from projections.platform.store import Doc

KEY = "_key"  # the sorted tables' indexed field
_SEP = "|"
_DESCENDING = str.maketrans("0123456789", "9876543210")


def key_range(prefix: str) -> tuple[str, str]:
    """The (after, below) bounds of every key starting with `prefix` (ending in `|`):
    `}` is the character after `|`, so nothing outside the partition sorts inside."""
    assert prefix.endswith(_SEP)
    return prefix, prefix[:-1] + chr(ord(_SEP) + 1)


def public(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


# -- subscriptions --------------------------------------------------------------------------


def evolve_subscription(row: Doc | None, event: Any) -> Doc | None:
    """`{id, tenantId, url, events, active, createdAt}`: the secret is never folded in."""
    if isinstance(event, Subscription.Created):
        subscription_id, tenant = str(event.originator_id), str(event.tenant_id)
        return {
            "id": subscription_id,
            "tenantId": tenant,
            "url": event.url,
            "events": list(event.events),
            "active": True,
            "createdAt": event.timestamp.isoformat(),
            # A tenant's subscriptions, oldest first.
            KEY: f"{tenant}{_SEP}{sort_key(event.timestamp)}{_SEP}{subscription_id}",
        }
    if row is None:
        return None
    if isinstance(event, Subscription.Deactivated):
        return {**row, "active": False}
    return row


def trigger_key(tenant_id: str, trigger: str, subscription_id: str) -> str:
    return f"{tenant_id}{_SEP}{trigger}{_SEP}{subscription_id}"


def trigger_rows(subscription: Doc) -> dict[str, Doc]:
    """One row per trigger an active subscription wants, keyed `<tenant>|<trigger>|<id>`;
    none for an inactive one."""
    if not subscription["active"]:
        return {}
    rows = {}
    for trigger in subscription["events"]:
        key = trigger_key(subscription["tenantId"], trigger, subscription["id"])
        rows[key] = {
            "id": key,
            "tenantId": subscription["tenantId"],
            "subscriptionId": subscription["id"],
            "trigger": trigger,
            KEY: key,
        }
    return rows


# -- deliveries -----------------------------------------------------------------------------


def newest_first(key: str) -> str:
    """A fixed-width time key (projections/deadlines `sort_key`) that sorts latest first:
    each digit complemented."""
    return key.translate(_DESCENDING)


def delivery_key(subscription_id: str, created_key: str, delivery_id: str) -> str:
    """`<subscriptionId>|<created, newest first>|<id>`."""
    return f"{subscription_id}{_SEP}{newest_first(created_key)}{_SEP}{delivery_id}"


def evolve_delivery(row: Doc | None, event: Any) -> Doc | None:
    """A webhook delivery as the outbox's fold sees it, with its trigger and subscription;
    deliveries of other channels have no row."""
    if isinstance(event, Delivery.Queued):
        if event.channel != WEBHOOK or event.recipient_id is None:
            return None
        base = evolve_outbox(None, event)
        assert base is not None
        subscription_id = str(event.recipient_id)
        return {
            **base,
            "subscriptionId": subscription_id,
            "event": event.payload.get("event"),
            KEY: delivery_key(subscription_id, base["createdKey"], base["id"]),
        }
    if row is None:
        return None
    return evolve_outbox(row, event)


def delivery_doc(row: Doc) -> Doc:
    """What `GET /v1/webhooks/{id}/deliveries` lists of one delivery."""
    return {
        "id": row["id"],
        "event": row["event"],
        "status": row["status"],
        "attempts": row["attempts"],
        "nextAttemptAt": row["nextAttemptAt"],
        "createdAt": row["createdAt"],
    }
