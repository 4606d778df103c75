"""One notifier for every decision people should hear about: an incoming-webhook message (the
JSON shape Slack and Mattermost accept: ``{"text": …}``) and/or an email over SMTP (STARTTLS,
credentials from settings/Secrets).

Sent for: a pipeline run finished or failed, the register gate's decision, a canary promoted
or rolled back, a retrain triggered or skipped. A notifier that is down never fails what it
reports on: the failure is logged and counted (``shipyard_notifications_total``).

A server that decides (``shipyard trigger``) puts its notifications on a
:class:`NotificationQueue`: sent by a background thread, each bounded by
``notify_timeout_seconds``, so a webhook that never answers never holds up an answer; a full
queue drops the newest and counts it (``shipyard_notifications_dropped_total``).
"""

from __future__ import annotations

import logging
import queue
import smtplib
import threading
import time
from email.message import EmailMessage

from prometheus_client import Counter

from shipyard.errors import ServiceUnavailable
from shipyard.settings import Settings, get_settings

logger = logging.getLogger(__name__)
NOTIFICATIONS = Counter(
    "shipyard_notifications",
    "Notifications by channel, event and outcome",
    ("channel", "event", "outcome"),
)
DROPPED = Counter(
    "shipyard_notifications_dropped",
    "Notifications never sent: the queue was full, or still held at shutdown",
    ("reason",),
)
WEBHOOK, EMAIL = "webhook", "email"


class Notifier:
    """Sends to every configured channel; ``send`` returns each channel's outcome."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    @property
    def channels(self) -> list[str]:
        s = self.settings
        return [
            c
            for c, on in (
                (WEBHOOK, s.notify_webhook_url is not None),
                (EMAIL, bool(s.smtp_host and s.notify_email_to)),
            )
            if on
        ]

    def send(self, event: str, title: str, text: str) -> dict[str, str]:
        """Deliver ``title`` and ``text`` for ``event`` (e.g. ``gate``, ``rollout``); never
        raises."""
        outcomes = {}
        for channel in self.channels:
            try:
                (self._webhook if channel == WEBHOOK else self._email)(title, text)
                outcomes[channel] = "sent"
            except (OSError, smtplib.SMTPException, ServiceUnavailable, ValueError) as exc:
                outcomes[channel] = "failed"
                logger.warning("notification %s via %s failed: %s", event, channel, str(exc)[:300])
            NOTIFICATIONS.labels(channel, event, outcomes[channel]).inc()
        return outcomes

    def _webhook(self, title: str, text: str) -> None:
        url = self.settings.notify_webhook_url
        assert url is not None
        from shipyard.http import request

        request(  # a failure is a ServiceUnavailable naming the webhook, counted by the caller
            url.get_secret_value(),
            {"text": f"*{title}*\n{text}"},
            timeout=self.settings.notify_timeout_seconds,
            what="the notification webhook",
        )

    def _email(self, title: str, text: str) -> None:
        s = self.settings
        message = EmailMessage()
        message["Subject"], message["From"] = title, s.notify_email_from
        message["To"] = s.notify_email_to
        message.set_content(text)
        with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.notify_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user and s.smtp_password:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(message)


def notify(event: str, title: str, text: str, settings: Settings | None = None) -> dict[str, str]:
    """``Notifier(settings).send(...)``: what the pipeline, the gate and the rollout call."""
    return Notifier(settings).send(event, title, text)


class NotificationQueue:
    """Notifications sent one after another by a background thread. ``put`` never blocks:
    with ``maxsize`` waiting, the newest is dropped, logged and counted. ``close`` sends what
    is queued within a deadline and counts the rest as dropped."""

    def __init__(
        self,
        settings: Settings | None = None,
        maxsize: int = 1000,
        notifier: Notifier | None = None,
    ) -> None:
        self.notifier = notifier or Notifier(settings)
        self._queue: queue.Queue[tuple[str, str, str] | None] = queue.Queue(maxsize)
        self._closed = False
        self._thread = threading.Thread(target=self._work, daemon=True, name="notify")
        self._thread.start()

    def put(self, event: str, title: str, text: str) -> bool:
        """Queue one message (True), or drop and count it (False); never raises or waits."""
        if not self.notifier.channels:
            return True  # nothing configured: nothing to send
        reason = "closed" if self._closed else ""
        if not reason:
            try:
                self._queue.put_nowait((event, title, text))
                return True
            except queue.Full:
                reason = "queue_full"
        DROPPED.labels(reason).inc()
        logger.warning("notification %s dropped (%s): %s", event, reason, title[:200])
        return False

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self.notifier.send(*item)
            except Exception:  # a notifier bug must not stop the next messages
                logger.exception("sending a notification failed")
            finally:
                self._queue.task_done()

    def join(self, timeout: float) -> bool:
        """Wait until everything queued so far is sent (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks

    def close(self, timeout: float) -> int:
        """Stop taking messages, send the queued ones within ``timeout``; returns how many
        were left unsent (dropped, logged and counted)."""
        self._closed = True
        self.join(timeout)
        left = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            self._queue.task_done()
            if item is not None:
                left += 1
        if left:
            DROPPED.labels("shutdown").inc(left)
            logger.warning("%d notification(s) unsent at shutdown", left)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        return left
