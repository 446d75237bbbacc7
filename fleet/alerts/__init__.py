"""Alerts where the SOC looks: one event model, one dispatcher, channels for e-mail, syslog
(RFC 5424, CEF or JSON) and signed webhooks. Producers call `alert_emit` (services.py)."""
