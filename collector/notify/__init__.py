"""Paging that always arrives: a durable outbox in the store, a delivery worker with
retries, backoff and a dead-letter state, routes by tenant and minimum severity, and the
channels (signed webhook, Slack, Teams Workflows, PagerDuty Events v2, SMTP, syslog).

Integration: ``outbox.enqueue`` inside the transaction that opens, escalates or changes the
status of an alert; ``NotifyWorker(db_path, Routes.from_config(raw))`` on the collector's
loop; ``collector.notify.cli.notifications`` registered on ``exwatch-collector``.
"""

from collector.notify.channels.base import Channel, DeliveryError, Message
from collector.notify.outbox import enqueue
from collector.notify.routes import Delivery, Route, Routes
from collector.notify.worker import NotifyWorker

__all__ = [
    "Channel",
    "Delivery",
    "DeliveryError",
    "Message",
    "NotifyWorker",
    "Route",
    "Routes",
    "enqueue",
]
