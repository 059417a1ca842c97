"""Outgoing mail (the password reset link), with the standard library's smtplib.

Development without ``MAIL_SERVER`` prints each mail to the terminal instead of sending it.
Production without ``MAIL_SERVER`` sends nothing and logs an error, never the mail itself:
a reset link in a log file would let anyone who reads the logs take over the account.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

logger = logging.getLogger(__name__)

SMTP_TIMEOUT = 10.0


def send_mail(to: str, subject: str, body: str) -> bool:
    """Send a plain-text mail; whether it left (or, in development, was printed)."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)

    if not config.get("MAIL_SERVER"):
        if config["APP_ENV"] == "production":
            logger.error("MAIL_SERVER is not set: a mail to %s was not sent.", to)
            return False
        # A warning, so it shows without any logging set-up: the mail was NOT sent. The body
        # as written (str(message) would wrap the link in quoted-printable soft breaks).
        logger.warning(
            "Development: this mail was not sent, it is printed here.\nTo: %s\nSubject: %s\n\n%s",
            to,
            subject,
            body,
        )
        return True
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=SMTP_TIMEOUT) as smtp:
            if config["MAIL_STARTTLS"]:
                smtp.starttls()
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        logger.error("The mail to %s could not be sent: %s", to, error)
        return False
    return True
