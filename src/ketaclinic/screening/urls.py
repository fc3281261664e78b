from django.urls import path

from ketaclinic.screening import views

urlpatterns = [
    path("screening/patients/<int:patient_id>/intake/", views.intake, name="screening_intake"),
    path(
        "screening/patients/<int:patient_id>/intake/save/",
        views.intake_save,
        name="screening_intake_save",
    ),
    path(
        "screening/patients/<int:patient_id>/intake/v<int:version>/",
        views.intake_version,
        name="screening_intake_version",
    ),
    path(
        "screening/patients/<int:patient_id>/intake-link/",
        views.intake_link_create,
        name="screening_intake_link",
    ),
    path(
        "screening/patients/<int:patient_id>/evaluate/", views.screening_run, name="screening_run"
    ),
    path(
        "screening/patients/<int:patient_id>/consultation/",
        views.consultation,
        name="screening_consultation",
    ),
    path(
        "screening/patients/<int:patient_id>/consultation/sign/",
        views.consultation_sign,
        name="screening_consultation_sign",
    ),
    path(
        "screening/patients/<int:patient_id>/consent/<slug:family>/",
        views.consent_sign,
        name="screening_consent_sign",
    ),
    path(
        "screening/patients/<int:patient_id>/consent-link/",
        views.consent_link_create,
        name="screening_consent_link",
    ),
    path("screening/<int:screening_id>/", views.screening_result, name="screening_result"),
    path("screening/<int:screening_id>/decide/", views.screening_decide, name="screening_decide"),
    path("screening/notes/<int:note_id>/amend/", views.note_amend, name="screening_note_amend"),
    path("screening/consents/<int:consent_id>/", views.consent_detail, name="screening_consent"),
    path(
        "screening/consents/<int:consent_id>/pdf/", views.consent_pdf, name="screening_consent_pdf"
    ),
    path(
        "screening/consents/<int:consent_id>/withdraw/",
        views.consent_withdraw,
        name="screening_consent_withdraw",
    ),
    path(
        "screening/consents/<int:consent_id>/cosign/",
        views.consent_cosign,
        name="screening_consent_cosign",
    ),
    # Public pages for patients (token in the path; no patient data in the URL).
    path("intake-link/<str:token>/", views.public_intake, name="screening_public_intake"),
    path("consent-link/<str:token>/", views.public_consent, name="screening_public_consent"),
]
