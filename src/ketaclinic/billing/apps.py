from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "ketaclinic.billing"
    label = "billing"

    def ready(self) -> None:
        # Treatment calls this when a nurse signs a session (treatment/hooks.py); the
        # worker's sweep (services.propose_missing) covers progress notes, consultations
        # and any session whose proposal failed.
        from ketaclinic.billing import services
        from ketaclinic.treatment import hooks

        if services.on_session_signed not in hooks.SESSION_SIGNED:
            hooks.SESSION_SIGNED.append(services.on_session_signed)
