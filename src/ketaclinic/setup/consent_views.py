"""The clinic's own consent texts: make a copy, edit it, save it as the next version."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.screening.clinic_consent import (
    MAX_BODY,
    MAX_TITLE,
    save_clinic_version,
    templates_for,
)
from ketaclinic.screening.consent import to_html


class ConsentTextForm(forms.Form):
    title = forms.CharField(max_length=MAX_TITLE)
    body = forms.CharField(
        label="Text",
        max_length=MAX_BODY,
        widget=forms.Textarea(attrs={"rows": 24}),
        help_text="Headings start with # or ##; **bold**; a blank line between paragraphs. "
        "{{ clinic_name }} becomes your clinic's name. The risks the patient ticks one by "
        "one stay as they are.",
    )


@require("floor.manage")
def consent_template_edit(request: ClinicRequest, family: str) -> HttpResponse:
    """Show the current text; "Make a clinic copy" or "Save as version N" adds a version."""
    actor = request.actor
    current = templates_for(actor.clinic).get(family)
    if current is None:
        raise Http404("No such consent template.")
    form = ConsentTextForm(
        request.POST or None, initial={"title": current.title, "body": current.body}
    )
    if request.method == "POST":
        copy_only = request.POST.get("action") == "copy"
        if copy_only or form.is_valid():
            try:
                row = save_clinic_version(
                    actor=actor,
                    family=family,
                    title=None if copy_only else form.cleaned_data["title"],
                    body=None if copy_only else form.cleaned_data["body"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(
                    request,
                    f"{row.title}: your clinic's version {row.version} is now the one patients "
                    "sign. Consents already signed keep their own text.",
                )
                return redirect("setup_consent")
    return render(
        request,
        "setup/consent_edit.html",
        {
            "template": current,
            "form": form,
            "text_html": mark_safe(to_html(current.render(actor.clinic.name))),  # noqa: S308 (escaped in to_html)
        },
    )
