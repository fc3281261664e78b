from django.contrib.auth import views as auth_views
from django.urls import include, path

from ketaclinic.accounts import views as accounts
from ketaclinic.api import api
from ketaclinic.audit import views as audit
from ketaclinic.home import home
from ketaclinic.patients import restricted_views
from ketaclinic.patients import views as patients
from ketaclinic.worker import views as health

# A visitor's path that finds nothing gets the public website's 404, a staff route the
# staff one (website/views.py not_found).
handler404 = "ketaclinic.website.views.not_found"

urlpatterns = [
    # The staff landing; "/" is the clinic's public website (issue 18, last route below).
    path("home/", home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/clinic/", accounts.choose_clinic, name="choose_clinic"),
    path("account/two-factor/", accounts.two_factor, name="two_factor"),
    path("account/tokens/", accounts.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", accounts.token_revoke, name="token_revoke"),
    path("staff/", accounts.staff, name="staff"),
    path("staff/settings/", accounts.clinic_settings, name="clinic_settings"),
    path(
        "staff/<int:membership_id>/deactivate/", accounts.staff_deactivate, name="staff_deactivate"
    ),
    path("patients/", patients.patient_search, name="patient_search"),
    path("patients/new/", patients.patient_new, name="patient_new"),
    path("patients/<int:patient_id>/", patients.patient_chart, name="patient_chart"),
    path("patients/<int:patient_id>/edit/", patients.patient_edit, name="patient_edit"),
    path(
        "patients/<int:patient_id>/allergies/none-known/",
        patients.allergies_none_known,
        name="allergies_none_known",
    ),
    path(
        "patients/<int:patient_id>/<str:kind>/add/",
        patients.chart_entry_add,
        name="chart_entry_add",
    ),
    path(
        "patients/<int:patient_id>/<str:kind>/<int:entry_id>/stop/",
        patients.chart_entry_stop,
        name="chart_entry_stop",
    ),
    path("audit/", audit.audit_log, name="audit_log"),
    path(
        "patients/<int:patient_id>/break-glass/",
        restricted_views.break_glass,
        name="break_glass",
    ),
    path(
        "patients/<int:patient_id>/restriction/",
        restricted_views.restriction,
        name="patient_restriction",
    ),
    path("audit/break-glass/", restricted_views.break_glass_reviews, name="break_glass_reviews"),
    path("", include("ketaclinic.measures.urls")),
    path("", include("ketaclinic.screening.urls")),
    path("", include("ketaclinic.scheduling.urls")),
    path("", include("ketaclinic.inventory.urls")),
    path("", include("ketaclinic.treatment.urls")),
    path("", include("ketaclinic.setup.urls")),
    path("", include("ketaclinic.outcomes.urls")),
    path("", include("ketaclinic.integration.urls")),
    path("", include("ketaclinic.portal.urls")),
    path("", include("ketaclinic.billing.urls")),
    path("api/v1/", api.urls),
    path("fhir/R4/", include("ketaclinic.interop.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("ketaclinic.website.urls")),
    # Wagtail's public pages catch every remaining path ending in "/": keep this LAST, so
    # no route above is shadowed by a page's slug.
    path("", include("wagtail.urls")),
]
