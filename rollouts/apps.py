from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rollouts"
    verbose_name = "Rollout campaigns"

    def ready(self) -> None:
        # The fleet sends verification_finished (it may not import this app): a campaign's
        # gate is evaluated on every verification of its stacks.
        from fleet.signals import verification_finished
        from rollouts.tasks import on_verification_finished

        verification_finished.connect(on_verification_finished, dispatch_uid="rollouts-gates")
