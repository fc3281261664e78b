"""Restricted charts and break-glass (issue #14).

A patient can be marked restricted (a staff member who is also a patient, a public
figure). Only the chart's care team opens it. Anyone else on the clinic's staff opens it
only through break-glass: a stated reason, access for BREAK_GLASS_MINUTES, an audit
event, an e-mail to the clinic's admins (and the privacy officer, when configured), and an
entry on the review list until an admin reviews it. Break-glass never crosses clinics: a
grant is looked up in the actor's own clinic only, and every fetcher is clinic-scoped first.

The check sits in the scoped fetchers (`get_patient_for` and the other `get_*_for`) through
`check_chart`; lists (search, the chair board, FHIR, exports) use `hidden_patient_ids`.
An unrestricted chart costs no query: the flag is on the patient row already loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record
from ketaclinic.patients.models import BreakGlass, CareTeamMember, Patient

# How long one break-glass opening lasts (policy: the clinic's privacy rules may shorten it).
BREAK_GLASS_MINUTES = 30
REASON_MIN = 10
REASON_MAX = 1000


class ChartRestricted(PermissionDenied):
    """The chart is restricted and the actor is neither on its care team nor holds a grant."""

    def __init__(self, patient_id: int) -> None:
        super().__init__(
            "This chart is restricted to its care team. Open it through break-glass "
            "(in the browser, with a reason); the opening is audited and reviewed."
        )
        self.patient_id = patient_id


# --- The check ------------------------------------------------------------------------------


def _active_grants(clinic_id: int, membership_id: int) -> QuerySet[BreakGlass]:
    return BreakGlass.objects.filter(
        clinic_id=clinic_id, membership_id=membership_id, expires_at__gt=timezone.now()
    )


def may_open(actor: Actor, patient: Patient) -> bool:
    """True when the actor may open this patient's chart (free unless the chart is restricted)."""
    if not patient.restricted:
        return True
    if patient.clinic_id != actor.clinic.pk:
        return False  # never across clinics, whatever grants exist
    membership_id = actor.membership.pk
    return (
        CareTeamMember.objects.filter(patient_id=patient.pk, membership_id=membership_id).exists()
        or _active_grants(actor.clinic.pk, membership_id).filter(patient_id=patient.pk).exists()
    )


def check_chart(actor: Actor, patient: Patient) -> None:
    """Raise ChartRestricted unless the actor may open this chart."""
    if not may_open(actor, patient):
        raise ChartRestricted(patient.pk)


def hidden_patient_ids_for(clinic_id: int, membership_id: int | None) -> frozenset[int]:
    """Restricted patients of the clinic this membership may not open now (one query)."""
    restricted = Patient.objects.filter(clinic_id=clinic_id, restricted=True)
    if membership_id is not None:
        restricted = restricted.exclude(
            Exists(
                CareTeamMember.objects.filter(patient=OuterRef("pk"), membership_id=membership_id)
            )
        ).exclude(Exists(_active_grants(clinic_id, membership_id).filter(patient=OuterRef("pk"))))
    return frozenset(restricted.values_list("pk", flat=True))


def visible(patients: QuerySet[Patient], actor: Actor) -> QuerySet[Patient]:
    """`patients` less the restricted charts the actor may not open, in the same query."""
    membership_id = actor.membership.pk
    return patients.exclude(
        Q(restricted=True)
        & ~Exists(
            CareTeamMember.objects.filter(patient=OuterRef("pk"), membership_id=membership_id)
        )
        & ~Exists(_active_grants(actor.clinic.pk, membership_id).filter(patient=OuterRef("pk")))
    )


def hidden_patient_ids(actor: Actor) -> frozenset[int]:
    return hidden_patient_ids_for(actor.clinic.pk, actor.membership.pk)


def patient_in_clinic(actor: Actor, patient_id: int | str) -> Patient:
    """The patient row (name and MRN only are shown) in the actor's clinic, without the chart check."""
    try:
        return Patient.objects.for_clinic(actor.clinic).get(pk=int(patient_id))
    except (Patient.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such patient in this clinic.") from None


# --- Writes ---------------------------------------------------------------------------------


def _clean_reason(text: str, field: str = "reason") -> str:
    text = (text or "").replace("\x00", "").strip()
    if len(text) < REASON_MIN:
        raise ValidationError(
            {field: f"State the reason in a few words (at least {REASON_MIN} characters)."}
        )
    if len(text) > REASON_MAX:
        raise ValidationError({field: f"Keep it under {REASON_MAX} characters."})
    return text


def _staff(actor: Actor, membership_ids: list[int]) -> list[Membership]:
    found = list(
        Membership.objects.active()
        .filter(clinic=actor.clinic, pk__in=membership_ids)
        .exclude(role=Role.PATIENT)
    )
    if len(found) != len(set(membership_ids)):
        raise ValidationError({"care_team": "Choose staff members of this clinic."})
    return found


@transaction.atomic
def set_restriction(
    *, actor: Actor, patient: Patient, restricted: bool, care_team: list[int]
) -> Patient:
    """Mark the chart restricted (or not) and name its care team; audited."""
    actor.check("patient.restrict")
    locked = Patient.objects.select_for_update().get(pk=patient.pk, clinic=actor.clinic)
    members = _staff(actor, care_team)
    if restricted and not members:
        raise ValidationError(
            {"care_team": "A restricted chart needs at least one care-team member."}
        )
    before = set(
        CareTeamMember.objects.filter(patient=locked).values_list("membership_id", flat=True)
    )
    after = {m.pk for m in members}
    CareTeamMember.objects.filter(patient=locked).exclude(membership_id__in=after).delete()
    CareTeamMember.objects.bulk_create(
        [
            CareTeamMember(clinic=actor.clinic, patient=locked, membership=m)
            for m in members
            if m.pk not in before
        ]
    )
    changed = locked.restricted != restricted
    if changed:
        Patient.objects.filter(pk=locked.pk).update(restricted=restricted)
        locked.restricted = restricted
    record(
        actor,
        "chart_restriction",
        patient_id=locked.pk,
        obj=locked,
        detail={
            "restricted": restricted,
            "care_team_added": sorted(after - before),
            "care_team_removed": sorted(before - after),
        },
    )
    return locked


def notify_of_break_glass(grant_id: int) -> int:
    """E-mail the clinic's admins and the privacy officer: who, when, where to review (no names)."""
    grant = (
        BreakGlass.objects.select_related("clinic", "membership__user").filter(pk=grant_id).first()
    )
    if grant is None:
        return 0
    recipients = {
        m.user.email
        for m in Membership.objects.active()
        .filter(clinic=grant.clinic, role=Role.ADMIN)
        .select_related("user")
        if m.user.email
    }
    officer = getattr(settings, "KETACLINIC_PRIVACY_OFFICER_EMAIL", "")
    if officer:
        recipients.add(officer)
    if not recipients:
        return 0
    base = getattr(settings, "KETACLINIC_BASE_URL", "").rstrip("/")
    user = grant.membership.user
    send_mail(
        subject=f"{grant.clinic.name}: a restricted chart was opened by break-glass",
        message=(
            f"{user.get_full_name() or user.username} ({grant.membership.get_role_display()}) "
            f"opened restricted chart #{grant.patient_id} by break-glass at "
            f"{timezone.localtime(grant.opened_at, grant.clinic.tz):%Y-%m-%d %H:%M} "
            f"for {BREAK_GLASS_MINUTES} minutes.\n\n"
            f"Review it: {base}{reverse('break_glass_reviews')}\n"
        ),
        from_email=None,
        recipient_list=sorted(recipients),
    )
    return 1


@transaction.atomic
def break_glass(*, actor: Actor, patient: Patient, reason: str) -> BreakGlass:
    """Open a restricted chart for BREAK_GLASS_MINUTES: audited, e-mailed, listed for review."""
    actor.check("breakglass.open")
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient in this clinic.")
    text = _clean_reason(reason)
    if not patient.restricted:
        raise ValidationError({"reason": "This chart is not restricted: open it directly."})
    now = timezone.now()
    grant = BreakGlass.objects.create(
        clinic=actor.clinic,
        patient=patient,
        membership=actor.membership,
        reason=text,
        opened_at=now,
        expires_at=now + timedelta(minutes=BREAK_GLASS_MINUTES),
    )
    record(
        actor,
        "break_glass",
        patient_id=patient.pk,
        obj=grant,
        detail={"flag": "break_glass", "minutes": BREAK_GLASS_MINUTES},
    )
    transaction.on_commit(lambda: notify_of_break_glass(grant.pk))
    return grant


def pending_reviews(actor: Actor) -> QuerySet[BreakGlass]:
    actor.check("breakglass.review")
    return (
        BreakGlass.objects.filter(clinic=actor.clinic, reviewed_at__isnull=True)
        .select_related("patient", "membership__user")
        .order_by("opened_at", "pk")
    )


def reviewed(actor: Actor, limit: int = 25) -> list[BreakGlass]:
    actor.check("breakglass.review")
    return list(
        BreakGlass.objects.filter(clinic=actor.clinic, reviewed_at__isnull=False)
        .select_related("patient", "membership__user", "reviewed_by__user")
        .order_by("-reviewed_at", "-pk")[:limit]
    )


@transaction.atomic
def review_break_glass(*, actor: Actor, grant_id: int | str, note: str) -> BreakGlass:
    """An admin reviews one opening (appropriate or not, in the note); audited."""
    actor.check("breakglass.review")
    try:
        grant = BreakGlass.objects.select_for_update().get(pk=int(grant_id), clinic=actor.clinic)
    except (BreakGlass.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such break-glass opening in this clinic.") from None
    if grant.reviewed_at is not None:
        raise ValidationError({"note": "Someone already reviewed this opening."})
    grant.review_note = _clean_reason(note, "note")
    grant.reviewed_at = timezone.now()
    grant.reviewed_by = actor.membership
    grant.save(update_fields=["review_note", "reviewed_at", "reviewed_by"])
    record(
        actor,
        "break_glass_review",
        patient_id=grant.patient_id,
        obj=grant,
        detail={"grant": grant.pk},
    )
    return grant


def open_grant(actor: Actor, patient: Patient) -> BreakGlass | None:
    """The actor's current break-glass grant on this chart, if any (for the banner)."""
    if not patient.restricted:
        return None
    return (
        _active_grants(actor.clinic.pk, actor.membership.pk)
        .filter(patient=patient)
        .order_by("-expires_at")
        .first()
    )


# --- Pages: a restricted chart sends the browser to the break-glass form ---------------------


def break_glass_url(patient_id: int, next_path: str) -> str:
    return f"{reverse('break_glass', args=[patient_id])}?{urlencode({'next': next_path})}"


def safe_next(request: HttpRequest, patient_id: int) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if (
        wanted
        and url_has_allowed_host_and_scheme(
            wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        and wanted.startswith("/")
    ):
        return wanted
    return reverse("patient_chart", args=[patient_id])


class BreakGlassMiddleware:
    """A page that met a restricted chart answers with the break-glass form's address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, ChartRestricted):
            return None
        if request.path.startswith(("/api/", "/fhir/")):
            return None  # the API answers its own 403
        path = (
            request.get_full_path()
            if request.method == "GET"
            else reverse("patient_chart", args=[exc.patient_id])
        )
        target = break_glass_url(exc.patient_id, path)
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)
