"""Sending e-mail with the standard library's SMTP client, as `[smtp]` configures it.

`send` raises `MailError` on any failure (the server refuses the connection or the
login, a timeout, a TLS error, a refused recipient); its message names the server and is
for the log only: a page says that sending failed, never why."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from service.config import SmtpConfig

__all__ = ["MailError", "send"]


class MailError(Exception):
    """The message was not sent."""


def send(smtp: SmtpConfig, auth: tuple[str, str] | None, message: EmailMessage) -> None:
    """Send `message` (its From is `[smtp] from`) through the configured server."""
    if "From" not in message:
        message["From"] = smtp.sender
    try:
        if smtp.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout_seconds,
                context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if auth is not None:
                client.login(*auth)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:  # timeouts and TLS errors are OSErrors
        raise MailError(f"sending through {smtp.host}:{smtp.port} failed: "
                        f"{type(exc).__name__}: {exc}") from exc
