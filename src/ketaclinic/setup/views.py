"""Set-up pages of the clinic: checklist, profile, rooms, hours, closures, settings, consent."""

from __future__ import annotations

from datetime import time
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.services import update_clinic_profile
from ketaclinic.inventory import services as inventory_services
from ketaclinic.inventory.forms import LocationForm, ProductForm
from ketaclinic.inventory.models import Location, Product
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.access import get_closure_for, get_room_for, get_staff_for
from ketaclinic.scheduling.models import ClinicClosure, Room, StaffException, StaffHours
from ketaclinic.screening.consent import to_html
from ketaclinic.setup import forms
from ketaclinic.setup.checklist import ROSTERED, checklist, complete, mark_consent_reviewed


def form_errors(form: Any, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's errors on the fields they name; the rest go on top of the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            name = (aliases or {}).get(field, field)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _posted(request: HttpRequest) -> Any:
    """The POST data to bind a form to (an empty POST still binds, so it shows its errors)."""
    return request.POST if request.method == "POST" else None


@require("floor.manage")
def setup_home(request: ClinicRequest) -> HttpResponse:
    steps = checklist(request.actor.clinic)
    return render(request, "setup/home.html", {"steps": steps, "complete": complete(steps)})


@require("floor.manage")
def profile(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    clinic = actor.clinic
    initial = {f: getattr(clinic, f) for f in ("name", "address", "phone", "timezone")} | {
        "dea_registration": clinic.dea_registration,
        "rems_certification_number": clinic.rems_certification_number,
        "rems_certified_on": clinic.rems_certified_on,
    }
    form = forms.ClinicProfileForm(_posted(request), request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        logo = data.pop("logo") or None
        try:
            update_clinic_profile(actor=actor, logo=logo, **data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, "Clinic profile saved.")
            return redirect("setup_home")
    return render(request, "setup/profile.html", {"form": form, "clinic": clinic})


@require("schedule.view")
def clinic_logo(request: ClinicRequest) -> FileResponse:
    """The clinic's logo for its own staff (uploads are not served as public files)."""
    clinic = request.actor.clinic
    if not clinic.logo:
        raise Http404("No logo.")
    try:
        handle = clinic.logo.open("rb")
    except FileNotFoundError:
        raise Http404("No logo.") from None
    response = FileResponse(handle, content_type=_logo_type(str(clinic.logo.name)))
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _logo_type(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower()
    return {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}.get(ext, "image/png")


# --- rooms ------------------------------------------------------------------------------


@require("floor.manage")
def rooms(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = forms.RoomForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                room = scheduling.create_room(
                    actor=actor, name=form.cleaned_data["name"], kind=form.cleaned_data["kind"]
                )
                if not form.cleaned_data["active"]:
                    scheduling.update_room(actor=actor, room=room, active=False)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, f"{room.name} added.")
            return redirect("setup_rooms")
    found = Room.objects.for_clinic(actor.clinic).order_by("-kind", "-active", "position", "name")
    return render(request, "setup/rooms.html", {"form": form, "rooms": found})


@require("floor.manage")
def room_edit(request: ClinicRequest, room_id: int) -> HttpResponse:
    actor = request.actor
    room = get_room_for(actor, room_id, "floor.manage")
    form = forms.RoomForm(
        _posted(request), initial={"name": room.name, "kind": room.kind, "active": room.active}
    )
    if request.method == "POST" and form.is_valid():
        try:
            scheduling.update_room(actor=actor, room=room, **form.cleaned_data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, f"{form.cleaned_data['name']} saved.")
            return redirect("setup_rooms")
    return render(request, "setup/room_edit.html", {"form": form, "room": room})


# --- opening hours and closures --------------------------------------------------------


@require("floor.manage")
def opening_hours(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    initial = forms.WeeklyHoursForm.initial_from(scheduling.opening_pattern(actor.clinic))
    form = forms.WeeklyHoursForm(_posted(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            scheduling.set_opening_hours(actor=actor, hours=form.hours())
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, "Opening hours saved.")
            return redirect("setup_home")
    return render(
        request,
        "setup/weekly.html",
        {
            "form": form,
            "title": "Opening hours",
            "intro": "When the clinic is open for bookings, in the clinic's time zone "
            f"({actor.clinic.timezone}). Existing bookings are not moved.",
            "help": forms.HOURS_HELP,
        },
    )


@require("floor.manage")
def closures(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = forms.ClosureForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            closure = scheduling.add_closure(actor=actor, **form.cleaned_data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            booked = scheduling.booked_on_closure(closure)
            messages.success(request, f"Closed: {closure.reason}.")
            if booked:
                messages.warning(
                    request,
                    f"{booked} appointment{'s are' if booked != 1 else ' is'} booked on these "
                    "days: move or cancel them from the schedule.",
                )
            return redirect("setup_closures")
    today = actor.clinic.today()
    found = ClinicClosure.objects.for_clinic(actor.clinic).filter(ends_on__gte=today)
    return render(request, "setup/closures.html", {"form": form, "closures": found})


@require_POST
@require("floor.manage")
def closure_delete(request: ClinicRequest, closure_id: int) -> HttpResponse:
    actor = request.actor
    closure = get_closure_for(actor, closure_id)
    scheduling.remove_closure(actor=actor, closure=closure)
    messages.success(request, f"The clinic is open again on those days ({closure.reason}).")
    return redirect("setup_closures")


# --- staff working hours ---------------------------------------------------------------


@require("floor.manage")
def staff_hours_list(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    members = list(
        Membership.objects.active()
        .filter(clinic=actor.clinic)
        .exclude(role="patient")
        .select_related("user")
        .order_by("role", "user__last_name", "user__first_name")
    )
    pattern: dict[int, dict[int, list[Any]]] = {}
    for row in StaffHours.objects.filter(clinic=actor.clinic):
        pattern.setdefault(row.membership_id, {}).setdefault(row.weekday, []).append(
            (row.starts, row.ends)
        )
    rows = [
        {
            "member": m,
            "rostered": m.role in ROSTERED,
            "days": [forms.format_intervals(pattern.get(m.pk, {}).get(d, [])) for d in range(7)],
        }
        for m in members
    ]
    return render(
        request,
        "setup/staff_hours_list.html",
        {"rows": rows, "weekdays": [n[:3] for n in forms.WEEKDAY_NAMES]},
    )


@require("floor.manage")
def staff_hours(request: ClinicRequest, membership_id: int) -> HttpResponse:
    actor = request.actor
    member = get_staff_for(actor, membership_id)
    weekly: dict[int, list[tuple[time, time]]] = {}
    for row in StaffHours.objects.filter(membership=member):
        weekly.setdefault(row.weekday, []).append((row.starts, row.ends))
    form = forms.WeeklyHoursForm(
        request.POST if request.POST.get("form") == "weekly" else None,
        initial=forms.WeeklyHoursForm.initial_from(weekly),
    )
    exception_form = forms.ExceptionForm(
        request.POST if request.POST.get("form") == "exception" else None
    )
    if request.method == "POST" and form.is_bound and form.is_valid():
        try:
            scheduling.set_staff_hours(actor=actor, membership=member, hours=form.hours())
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, f"Working hours of {member.user} saved.")
            return redirect("setup_staff_hours")
    if request.method == "POST" and exception_form.is_bound and exception_form.is_valid():
        data = exception_form.cleaned_data
        starts, ends = data["hours"][0] if data["hours"] else (None, None)
        try:
            scheduling.add_staff_exception(
                actor=actor,
                membership=member,
                day=data["day"],
                starts=starts,
                ends=ends,
                note=data["note"],
            )
        except ValidationError as exc:
            form_errors(exception_form, exc, {"ends": "hours", "starts": "hours"})
        else:
            messages.success(request, f"Exception on {data['day']:%-d %b %Y} saved.")
            return redirect("setup_staff_hours_edit", membership_id=member.pk)
    today = actor.clinic.today()
    exceptions = StaffException.objects.filter(membership=member, day__gte=today).order_by("day")
    return render(
        request,
        "setup/staff_hours.html",
        {
            "member": member,
            "form": form,
            "exception_form": exception_form,
            "exceptions": exceptions[:60],
            "help": forms.HOURS_HELP,
        },
    )


# --- scheduling settings ---------------------------------------------------------------


@require("floor.manage")
def scheduling_settings(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    current = scheduling.settings_for(actor.clinic)
    form = forms.SchedulingSettingsForm(
        _posted(request),
        initial={
            "nurse_capacity": current.nurse_capacity,
            "reminder_hours_before": current.reminder_hours_before,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            scheduling.update_settings(actor=actor, **form.cleaned_data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, "Scheduling settings saved.")
            return redirect("setup_home")
    return render(request, "setup/settings.html", {"form": form})


# --- drug products and storage ---------------------------------------------------------


@require("inventory.setup")
def inventory(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    which = request.POST.get("form")
    # Prefixed: both forms have a "name", and each label must point at its own field.
    product_form = ProductForm(request.POST if which == "product" else None, prefix="product")
    location_form = LocationForm(request.POST if which == "location" else None, prefix="location")
    if which == "product" and product_form.is_valid():
        try:
            product = inventory_services.create_product(actor=actor, **product_form.cleaned_data)
        except ValidationError as exc:
            form_errors(product_form, exc)
        else:
            messages.success(request, f"{product.name} added.")
            return redirect("setup_inventory")
    if which == "location" and location_form.is_valid():
        try:
            location = inventory_services.create_location(
                actor=actor, name=location_form.cleaned_data["name"]
            )
        except ValidationError as exc:
            form_errors(location_form, exc)
        else:
            messages.success(request, f"{location.name} added.")
            return redirect("setup_inventory")
    return render(
        request,
        "setup/inventory.html",
        {
            "product_form": product_form,
            "location_form": location_form,
            "products": Product.objects.for_clinic(actor.clinic).order_by("-is_active", "name"),
            "locations": Location.objects.for_clinic(actor.clinic).order_by("-is_active", "name"),
        },
    )


@require_POST
@require("inventory.setup")
def inventory_toggle(request: ClinicRequest, kind: str, item_id: int) -> HttpResponse:
    """Take a product or location out of use (or back); ledger rows keep pointing at it."""
    actor = request.actor
    toggled: dict[str, type[Product] | type[Location]] = {"product": Product, "location": Location}
    model = toggled.get(kind)
    if model is None:
        raise Http404
    item = model.objects.for_clinic(actor.clinic).filter(pk=item_id).first()
    if item is None:
        raise Http404
    in_use = not item.is_active
    try:
        inventory_services.set_in_use(actor=actor, item=item, in_use=in_use)
    except ValidationError as exc:  # e.g. a location that still holds stock
        messages.error(request, " ".join(exc.messages))
        return redirect("setup_inventory")
    messages.success(request, f"{item.name} is {'in use again' if in_use else 'no longer in use'}.")
    return redirect("setup_inventory")


# --- consent templates -----------------------------------------------------------------


@require("floor.manage")
def consent_templates(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    from ketaclinic.screening.clinic_consent import clinic_copies, templates_for

    templates = sorted(templates_for(actor.clinic).values(), key=lambda t: t.title)
    copies = clinic_copies(actor.clinic)
    if request.method == "POST":
        mark_consent_reviewed(actor)
        messages.success(request, "Consent templates marked as reviewed.")
        return redirect("setup_home")
    shown = [
        {
            "template": t,
            "html": to_html(t.render(actor.clinic.name)),
            "copies": copies.get(t.family, []),
            "own": bool(copies.get(t.family)) and copies[t.family][0].version == t.version,
        }
        for t in templates
    ]
    return render(request, "setup/consent.html", {"templates": shown})
