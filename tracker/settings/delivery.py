"""Settings of alerts: mail, webhooks, links."""

from __future__ import annotations

from tracker.settings.base import Setting
from tracker.valuecheck import address, between, host

DECLARED: tuple[Setting, ...] = (
    # Alerts (issue 4): mail, webhooks, links.
    Setting(
        "smtp_host",
        str,
        "",
        "SMTP server for alerts and digests; empty writes each message as an .eml file "
        "to <data_dir>/mail instead.",
        check=host,
    ),
    Setting(
        "smtp_port", int, 587, "SMTP port (587 for starttls, 465 for tls).", check=between(1, 65535)
    ),
    Setting(
        "smtp_tls",
        str,
        "starttls",
        "SMTP TLS mode, always explicit: starttls, tls (implicit, port 465) or none "
        "(only for a relay on this host, and never with a password).",
        choices=("starttls", "tls", "none"),
    ),
    Setting("smtp_username", str, "", "SMTP user name; empty means no AUTH."),
    Setting("smtp_password", str, "", "SMTP password (environment only).", secret=True),
    Setting(
        "smtp_ca_file",
        str,
        "",
        "PEM file of CA certificates trusted for the SMTP server; empty means the system's.",
    ),
    Setting(
        "smtp_timeout",
        float,
        30.0,
        "Seconds before an SMTP connection or reply times out.",
        check=between(0.1, 3600),
    ),
    Setting(
        "mail_from",
        str,
        "tracker@localhost",
        "From address of alerts and digests (its domain also names Message-ID and List-Id).",
        check=address,
    ),
    Setting(
        "operator_email",
        str,
        "",
        "Address told about dead outbox rows and disabled webhooks; empty only logs them.",
        check=address,
    ),
    Setting(
        "signing_key",
        str,
        "",
        "Key that signs confirm and unsubscribe links (environment only); empty uses a "
        "random key kept in the database.",
        secret=True,
    ),
    Setting(
        "webhook_timeout",
        float,
        15.0,
        "Seconds a webhook receiver has to answer.",
        check=between(0.1, 3600),
    ),
    Setting(
        "expiring_days",
        int,
        30,
        "An `expiring` event is sent when a temporary rule expires within this many days.",
        check=between(0, 3650),
    ),
)
