from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from ketaclinic.accounts import views as accounts_views
from ketaclinic.setup import consent_views, staff_views, views

urlpatterns = [
    path("setup/", views.setup_home, name="setup_home"),
    path("setup/profile/", views.profile, name="setup_profile"),
    path("setup/logo/", views.clinic_logo, name="setup_logo"),
    path("setup/rooms/", views.rooms, name="setup_rooms"),
    path("setup/rooms/<int:room_id>/", views.room_edit, name="setup_room_edit"),
    path("setup/hours/", views.opening_hours, name="setup_hours"),
    path("setup/closures/", views.closures, name="setup_closures"),
    path(
        "setup/closures/<int:closure_id>/delete/",
        views.closure_delete,
        name="setup_closure_delete",
    ),
    path("setup/staff-hours/", views.staff_hours_list, name="setup_staff_hours"),
    path(
        "setup/staff-hours/<int:membership_id>/",
        views.staff_hours,
        name="setup_staff_hours_edit",
    ),
    path("setup/scheduling/", views.scheduling_settings, name="setup_scheduling"),
    path("setup/inventory/", views.inventory, name="setup_inventory"),
    path(
        "setup/inventory/<str:kind>/<int:item_id>/toggle/",
        views.inventory_toggle,
        name="setup_inventory_toggle",
    ),
    path("setup/consent/", views.consent_templates, name="setup_consent"),
    path(
        "setup/consent/<slug:family>/",
        consent_views.consent_template_edit,
        name="setup_consent_edit",
    ),
    path("staff/<int:membership_id>/", staff_views.staff_edit, name="staff_edit"),
    path(
        "staff/<int:membership_id>/password-reset/",
        staff_views.staff_password_reset,
        name="staff_password_reset",
    ),
    path("staff/<int:membership_id>/unlock/", staff_views.staff_unlock, name="staff_unlock"),
    path(
        "staff/<int:membership_id>/two-factor-reset/",
        staff_views.staff_reset_two_factor,
        name="staff_two_factor_reset",
    ),
    path(
        "staff/<int:membership_id>/reactivate/",
        staff_views.staff_reactivate,
        name="staff_reactivate",
    ),
    path("platform/clinics/new/", staff_views.platform_clinic_new, name="platform_clinic_new"),
    path(
        "account/two-factor/recovery-codes/",
        accounts_views.two_factor_recovery,
        name="two_factor_recovery",
    ),
    path(
        "account/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="setup/password_reset_confirm.html",
            success_url=reverse_lazy("login"),
        ),
        name="password_reset_confirm",
    ),
]
