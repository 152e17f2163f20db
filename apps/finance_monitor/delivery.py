"""The webhook outbox: every alert is queued (in the alert's own transaction) for every webhook
URL, then delivered by :func:`deliver_pending` after a run, by the watcher, and by
``finance-monitor deliver``.

A delivery is an HTTP POST of the alert's JSON with ``Idempotency-Key: <alert_id>``
(:func:`finance_monitor.webhook.post_alert`: retries with exponential back-off and a timeout).
One that still fails stays ``pending`` for the next attempt; a permanent refusal (HTTP 4xx other
than 408/409/429, a redirect, a bad URL) becomes ``failed`` and is reported, never dropped: ``deliver --retry-failed``
queues those again once the receiver is fixed. A receiver may see an alert more than once
(e.g. the process died after the POST, before recording it): it deduplicates by the key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from .alerts import Alert
from .config import AlertConfig
from .store import MonitorStore, now, outbox_table
from .webhook import post_alert

logger = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    delivered: int = 0
    pending: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"delivered": self.delivered, "pending": self.pending, "failed": self.failed,
                "errors": self.errors[:10]}


def deliver_pending(store: MonitorStore, config: AlertConfig, *, target: str | None = None,
                    sleep=None) -> DeliveryReport:
    """Try every pending delivery once (with :func:`post_alert`'s retries); returns what was
    delivered and what is still pending or failed (in the whole outbox)."""
    report = DeliveryReport()
    kwargs = {} if sleep is None else {"sleep": sleep}
    down: set[str] = set()  # a target that timed out / refused this round: skip its backlog
    for row in store.pending_deliveries(target):
        if row["target"] in down:
            continue
        alert = Alert.from_dict(dict(row["payload"]))
        result = post_alert(row["target"], alert, timeout_s=config.webhook_timeout_s,
                            retries=config.webhook_retries, backoff_s=config.webhook_backoff_s,
                            **kwargs)
        permanent = not result.ok and result.permanent
        store.record_delivery(row["id"], ok=result.ok, permanent=permanent,
                              attempts=result.attempts, status=result.status, error=result.error)
        if result.ok:
            report.delivered += 1
        else:
            message = f"{alert.alert_id} -> {row['target']}: {result.error}"
            report.errors.append(message)
            logger.warning("webhook delivery failed: %s%s", message,
                           " (permanent: not retried)" if permanent else " (kept in the outbox)")
            if not permanent:
                down.add(row["target"])
    counts = store.outbox_counts()
    report.pending = counts.get("pending", 0)
    report.failed = counts.get("failed", 0)
    return report


def retry_failed(store: MonitorStore) -> int:
    """Queue the permanently failed deliveries again; returns how many."""
    t = outbox_table
    return store.run(lambda conn: conn.execute(
        t.update().where(t.c.status == "failed").values(status="pending", updated_at=now())
    ).rowcount, write=True)


def pending_count(store: MonitorStore) -> int:
    t = outbox_table
    return store.run(lambda conn: conn.execute(
        sa.select(sa.func.count()).select_from(t).where(t.c.status == "pending")).scalar_one())
