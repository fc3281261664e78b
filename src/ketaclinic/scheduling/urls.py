from django.urls import path

from ketaclinic.scheduling import desk, review_views, views

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
    path("schedule/book/", desk.book, name="schedule_book"),
    path("schedule/appointments/<int:appointment_id>/move/", desk.move, name="schedule_move"),
    path("today/", desk.today, name="schedule_today"),
    path(
        "today/appointments/<int:appointment_id>/status/",
        desk.today_status,
        name="schedule_today_status",
    ),
    path("my-day/", desk.my_day, name="schedule_my_day"),
    path("caseload/", desk.caseload, name="schedule_caseload"),
]
