"""Instruments as Questionnaires, and responses as QuestionnaireResponses."""

from __future__ import annotations

from typing import Any

from ketaclinic.clinical.instruments import Instrument
from ketaclinic.interop import terminology as t

from .base import Resource, _meta, _prune, coding, instant, ref

# --- Questionnaires ----------------------------------------------------------------------


def questionnaire_id(instrument: Instrument) -> str:
    return f"{instrument.code.replace('_', '-')}-{instrument.version}"


def questionnaire_url(instrument: Instrument) -> str:
    return f"{t.LOCAL}/Questionnaire/{questionnaire_id(instrument)}"


def _answer_coding(instrument: Instrument, value: int | bool, label: str) -> dict[str, Any]:
    return coding(f"{t.LOCAL}/CodeSystem/{instrument.code}-answers", str(value).lower(), label)


def questionnaire(instrument: Instrument) -> Resource:
    items = []
    for item in instrument.items:
        boolean = item.is_boolean
        entry: dict[str, Any] = {
            "linkId": str(item.number),
            "text": item.text,
            "type": "boolean" if boolean else "choice",
            "required": False,
        }
        if item.loinc:
            entry["code"] = [coding(t.LOINC, item.loinc)]
        if not boolean:
            entry["answerOption"] = [
                {"valueCoding": _answer_coding(instrument, o.value, o.label)} for o in item.options
            ]
        items.append(entry)
    return _prune(
        {
            "resourceType": "Questionnaire",
            "id": questionnaire_id(instrument),
            "url": questionnaire_url(instrument),
            "version": str(instrument.version),
            "name": instrument.code.replace("_", "").upper(),
            "title": instrument.title,
            "status": "active",
            "subjectType": ["Patient"],
            "code": [coding(t.LOINC, instrument.loinc.panel)] if instrument.loinc.panel else [],
            "copyright": instrument.license,
            "item": items,
        }
    )


def questionnaire_response(row: Any, instrument: Instrument | None) -> Resource:
    items = []
    if instrument is not None:
        for item, value in zip(instrument.items, row.answers, strict=False):
            if value is None:
                continue  # a skipped item has no answer; it is listed in the score's note
            if item.is_boolean:
                answer: dict[str, Any] = {"valueBoolean": bool(value)}
            else:
                label = next((o.label for o in item.options if o.value == value), str(value))
                answer = {"valueCoding": _answer_coding(instrument, value, label)}
            items.append({"linkId": str(item.number), "text": item.text, "answer": [answer]})
    author = (
        ref("Patient", row.patient_id)
        if row.source == "patient_link"
        else (ref("Practitioner", row.entered_by_id) if row.entered_by_id else None)
    )
    return _prune(
        {
            "resourceType": "QuestionnaireResponse",
            "id": str(row.pk),
            "meta": _meta(row.created_at),
            "questionnaire": (
                f"{questionnaire_url(instrument)}|{instrument.version}" if instrument else None
            ),
            "status": "completed",
            "subject": ref("Patient", row.patient_id),
            "authored": instant(row.taken_at),
            "author": author,
            "source": ref("Patient", row.patient_id) if row.source == "patient_link" else None,
            "item": items,
        }
    )
