"""A clinic's own consent texts: a copy of a template with its own version, edited in the browser.

What a patient signs is the highest version of the family among the shipped file, the
clinic's data-directory file and the clinic's own copies (ClinicConsentTemplate rows).
An edit never changes a row: it adds the next version. Consents already signed keep
the exact text and version they were signed with (Consent.text, Consent.template_version).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record
from ketaclinic.screening.consent import (
    ConsentTemplate,
    Risk,
    TemplateError,
    checked_template,
    load_templates,
)
from ketaclinic.screening.models import ClinicConsentTemplate

MAX_BODY = 20_000
MAX_TITLE = 200


def _as_template(row: ClinicConsentTemplate) -> ConsentTemplate:
    return ConsentTemplate(
        row.family,
        row.version,
        row.title,
        row.off_label,
        row.rems,
        tuple(Risk(r["id"], r["text"]) for r in row.risks),
        row.body,
    )


def templates_for(clinic: Clinic | int) -> dict[str, ConsentTemplate]:
    """Family -> the template this clinic's patients sign now (one query)."""
    found = load_templates()
    clinic_id = clinic if isinstance(clinic, int) else clinic.pk
    for row in ClinicConsentTemplate.objects.filter(clinic_id=clinic_id).order_by(
        "family", "-version"
    ):
        current = found.get(row.family)
        if current is None or row.version > current.version:
            found[row.family] = _as_template(row)
    return found


def clinic_copies(clinic: Clinic) -> dict[str, list[ClinicConsentTemplate]]:
    """Family -> the clinic's own versions, newest first (one query)."""
    out: dict[str, list[ClinicConsentTemplate]] = {}
    for row in ClinicConsentTemplate.objects.filter(clinic=clinic).select_related("created_by"):
        out.setdefault(row.family, []).append(row)
    return out


def save_clinic_version(
    *, actor: Actor, family: str, title: str | None = None, body: str | None = None
) -> ClinicConsentTemplate:
    """Add the clinic's next version of `family` (a copy of the current text when unchanged).

    ValidationError names the field: an unknown family, an empty or oversized text, a
    racemic consent that no longer states the off-label use. Nothing is written then.
    """
    actor.check("floor.manage")
    with transaction.atomic():
        # The clinic row first (the project's lock order): two admins saving at once
        # take consecutive versions instead of colliding.
        Clinic.objects.select_for_update().filter(pk=actor.clinic.pk).values_list("pk").first()
        current = templates_for(actor.clinic).get(family)
        if current is None:
            raise ValidationError({"family": f"Unknown consent template {family!r}."})
        new_title = " ".join((title if title is not None else current.title).split())
        new_body = (body if body is not None else current.body).replace("\r\n", "\n")
        if not new_title or len(new_title) > MAX_TITLE:
            raise ValidationError({"title": f"Give a title of at most {MAX_TITLE} characters."})
        if not new_body.strip() or len(new_body) > MAX_BODY:
            raise ValidationError({"body": f"Write the text (at most {MAX_BODY} characters)."})
        if "\x00" in new_title or "\x00" in new_body:
            raise ValidationError({"body": "The text contains a character that cannot be kept."})
        try:
            checked = checked_template(
                family=family,
                version=current.version + 1,
                title=new_title,
                off_label=current.off_label,
                rems=current.rems,
                risks=current.risks,
                body=new_body.strip() + "\n",
                where="The text",
            )
        except TemplateError as exc:
            raise ValidationError({"body": str(exc)}) from exc
        row = ClinicConsentTemplate.objects.create(
            clinic=actor.clinic,
            family=family,
            version=checked.version,
            based_on_version=current.version,
            title=checked.title,
            body=checked.body,
            off_label=checked.off_label,
            rems=checked.rems,
            risks=[{"id": r.id, "text": r.text} for r in checked.risks],
            created_by=actor.user,
        )
        record(
            actor,
            "create",
            obj=row,
            detail={"family": family, "version": row.version, "based_on": current.version},
        )
    return row
