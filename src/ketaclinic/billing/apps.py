from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "ketaclinic.billing"
    label = "billing"

    def ready(self) -> None:
        # Treatment calls this when a nurse signs a session (treatment/hooks.py); the
        # worker's sweep (services.propose_missing) covers progress notes, consultations
        # and any session whose proposal failed.
        from ketaclinic.billing import providers, services
        from ketaclinic.patients import hooks as patient_hooks
        from ketaclinic.treatment import hooks

        if services.on_session_signed not in hooks.SESSION_SIGNED:
            hooks.SESSION_SIGNED.append(services.on_session_signed)
        # The patient's reviewed superbills on the portal's Documents page.
        patient_hooks.PORTAL_DOCUMENTS["superbills"] = providers.SUPERBILLS
