from django.urls import path

from ketaclinic.treatment import ae_views, followup_views, session_views, views

urlpatterns = [
    path("treatment/board/", views.board, name="treatment_board"),
    path("treatment/board/live/", views.board_live, name="treatment_board_live"),
    path(
        "treatment/appointments/<int:appointment_id>/start/",
        views.session_start,
        name="treatment_start",
    ),
    path(
        "treatment/sessions/<int:session_id>/", session_views.session_page, name="treatment_session"
    ),
    path(
        "treatment/sessions/<int:session_id>/do/<str:step>/",
        session_views.session_action,
        name="treatment_action",
    ),
    path(
        "treatment/sessions/<int:session_id>/summary.pdf",
        session_views.session_pdf,
        name="treatment_session_pdf",
    ),
    path(
        "treatment/sessions/<int:session_id>/vitals-chart.svg",
        session_views.session_chart_svg,
        name="treatment_session_chart",
    ),
    path(
        "treatment/follow-up-calls/",
        followup_views.follow_up_calls,
        name="treatment_follow_up_calls",
    ),
    path(
        "treatment/follow-up-calls/<int:call_id>/",
        followup_views.follow_up_call,
        name="treatment_follow_up_call",
    ),
    path("treatment/rems/", views.rems_list, name="treatment_rems"),
    path("treatment/rems/<int:form_id>/", views.rems_form, name="treatment_rems_form"),
    path("treatment/rems/<int:form_id>/form.pdf", views.rems_pdf, name="treatment_rems_pdf"),
    path("treatment/rems/<int:form_id>/form.csv", views.rems_csv, name="treatment_rems_csv"),
    path(
        "treatment/rems/<int:form_id>/submitted/",
        views.rems_submitted,
        name="treatment_rems_submitted",
    ),
    path("treatment/adverse-event-reports/", ae_views.report_list, name="treatment_ae_reports"),
    path(
        "treatment/adverse-event-reports/<int:report_id>/",
        ae_views.report_page,
        name="treatment_ae_report",
    ),
    path(
        "treatment/adverse-event-reports/<int:report_id>/report.pdf",
        ae_views.report_pdf,
        name="treatment_ae_report_pdf",
    ),
    path(
        "treatment/sessions/<int:session_id>/adverse-events/<int:event_id>/reportable/",
        ae_views.mark_reportable,
        name="treatment_ae_reportable",
    ),
    path(
        "treatment/patients/<int:patient_id>/liver-tests/",
        ae_views.liver_tests,
        name="treatment_liver_tests",
    ),
    path(
        "treatment/patients/<int:patient_id>/liver-tests/new/",
        ae_views.liver_test_new,
        name="treatment_liver_test_new",
    ),
]
