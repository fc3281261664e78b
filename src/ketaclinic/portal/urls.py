from django.urls import path

from ketaclinic.portal import documents, views

urlpatterns = [
    path("portal/", views.home, name="portal_home"),
    path("portal/appointments/", views.appointments, name="portal_appointments"),
    path(
        "portal/appointments/<int:appointment_id>/change/",
        views.appointment_change,
        name="portal_appointment_change",
    ),
    path(
        "portal/appointments/<int:appointment_id>/calendar.ics",
        views.appointment_ics,
        name="portal_appointment_ics",
    ),
    path(
        "portal/appointments/<int:appointment_id>/check-in/",
        views.checkin,
        name="portal_checkin",
    ),
    path("portal/questionnaires/", views.questionnaires, name="portal_questionnaires"),
    path("portal/questionnaires/<int:link_id>/", views.questionnaire, name="portal_questionnaire"),
    path("portal/progress/", views.progress, name="portal_progress"),
    path("portal/journal/", views.journal, name="portal_journal"),
    path("portal/journal/<int:entry_id>/share/", views.journal_share, name="portal_journal_share"),
    path("portal/homework/", views.homework, name="portal_homework"),
    path(
        "portal/homework/<int:homework_id>/done/",
        views.homework_done,
        name="portal_homework_done",
    ),
    path("portal/messages/", views.messages, name="portal_messages"),
    path("portal/messages/<int:thread_id>/", views.thread, name="portal_thread"),
    path("portal/documents/", views.documents, name="portal_documents"),
    path("portal/documents/<slug:kind>/", documents.document_page, name="portal_document_page"),
    path(
        "portal/documents/consents/<int:consent_id>.pdf",
        views.consent_pdf,
        name="portal_consent_pdf",
    ),
    path(
        "portal/documents/<slug:kind>/<int:doc_id>.pdf",
        views.document_pdf,
        name="portal_document_pdf",
    ),
    path("portal/invite/<str:token>/", views.invite_accept, name="portal_invite_accept"),
    path("portal/sign-in/", views.sign_in_request, name="portal_sign_in"),
    path("portal/sign-in/code/", views.sign_in_code, name="portal_sign_in_code"),
    path("portal/sign-in/<str:token>/", views.sign_in_link, name="portal_sign_in_link"),
    path("portal/security/", views.security, name="portal_security"),
    # Staff side.
    path(
        "patients/<int:patient_id>/portal-invite/", views.staff_invite, name="portal_staff_invite"
    ),
    path(
        "treatment/sessions/<int:session_id>/portal-summary/release/",
        views.summary_release,
        name="portal_summary_release",
    ),
    path(
        "treatment/sessions/<int:session_id>/portal-summary/withdraw/",
        views.summary_withdraw,
        name="portal_summary_withdraw",
    ),
    path("messages/", views.inbox, name="message_inbox"),
    path("messages/<int:thread_id>/", views.staff_thread, name="staff_thread"),
    path("messages/<int:thread_id>/assign/", views.staff_thread_assign, name="staff_thread_assign"),
    path("messages/<int:thread_id>/done/", views.staff_thread_done, name="staff_thread_done"),
    path(
        "portal-requests/<int:request_id>/handled/",
        views.request_handled,
        name="portal_request_handled",
    ),
]
