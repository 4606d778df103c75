"""One notifier for every decision people should hear about: an incoming-webhook message (the
JSON shape Slack and Mattermost accept: ``{"text": …}``) and/or an email over SMTP (STARTTLS,
credentials from settings/Secrets).

Sent for: a pipeline run finished or failed, the register gate's decision, a canary promoted
or rolled back, a retrain triggered or skipped. A notifier that is down never fails what it
reports on: the failure is logged and counted (``shipyard_notifications_total``).
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage

from prometheus_client import Counter

from shipyard.settings import Settings, get_settings

logger = logging.getLogger(__name__)
NOTIFICATIONS = Counter(
    "shipyard_notifications",
    "Notifications by channel, event and outcome",
    ("channel", "event", "outcome"),
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
            except (OSError, smtplib.SMTPException, urllib.error.URLError, ValueError) as exc:
                outcomes[channel] = "failed"
                logger.warning("notification %s via %s failed: %s", event, channel, str(exc)[:300])
            NOTIFICATIONS.labels(channel, event, outcomes[channel]).inc()
        return outcomes

    def _webhook(self, title: str, text: str) -> None:
        url = self.settings.notify_webhook_url
        assert url is not None
        body = json.dumps({"text": f"*{title}*\n{text}"}).encode()
        request = urllib.request.Request(
            url.get_secret_value(),
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.settings.notify_timeout_seconds) as r:
            if r.status >= 300:
                raise OSError(f"the webhook answered {r.status}")

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
