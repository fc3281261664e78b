from django.urls import path

from ketaclinic.scheduling import review_views, views

urlpatterns = [
    path("schedule/", views.day_board, name="schedule_day"),
    path("schedule/week/", views.week_view, name="schedule_week"),
    path("schedule/series/", views.book_series, name="schedule_series"),
    path("schedule/calendar-feed/", views.calendar_feed, name="schedule_calendar_feed"),
    path(
        "schedule/appointments/<int:appointment_id>/",
        views.appointment_page,
        name="schedule_appointment",
    ),
    path(
        "schedule/appointments/<int:appointment_id>/status/",
        views.appointment_status,
        name="schedule_appointment_status",
    ),
    path(
        "schedule/patients/<int:patient_id>/course/", views.course_new, name="schedule_course_new"
    ),
    path(
        "schedule/courses/<int:course_id>/activate/",
        views.course_activate,
        name="schedule_course_activate",
    ),
    path(
        "schedule/courses/<int:course_id>/induction-review/",
        review_views.induction_review,
        name="schedule_induction_review",
    ),
    path("ics/<str:token>.ics", views.calendar_ics, name="calendar_ics"),
]
