from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"

    def ready(self) -> None:
        from audits import signals  # noqa: F401 - connects the audit log's receivers
