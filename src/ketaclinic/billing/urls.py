from django.urls import path

from ketaclinic.billing import views

urlpatterns = [
    path("billing/", views.billing_home, name="billing_home"),
    path("billing/setup/", views.billing_setup, name="billing_setup"),
    path("billing/aging/", views.billing_aging, name="billing_aging"),
    path("billing/remittance/", views.billing_remittance, name="billing_remittance"),
    path("billing/visits/<int:appointment_id>/", views.billing_visit, name="billing_visit"),
    path("billing/claims/<int:claim_id>/", views.billing_claim, name="billing_claim"),
    path("billing/claims/<int:claim_id>/837/", views.billing_claim_x12, name="billing_claim_x12"),
    path("billing/patients/<int:patient_id>/", views.billing_account, name="billing_account"),
    path(
        "billing/patients/<int:patient_id>/superbill.pdf",
        views.billing_superbill,
        name="billing_superbill",
    ),
    path(
        "billing/patients/<int:patient_id>/statement.pdf",
        views.billing_statement,
        name="billing_statement",
    ),
]
