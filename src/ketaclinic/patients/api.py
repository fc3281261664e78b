"""Patient record API: /api/v1/patients."""

from typing import cast

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_safety import ErrorOut, InvalidOut, PageNumbers
from ketaclinic.patients import restricted, services
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient
from ketaclinic.patients.schemas import (
    AllergyIn,
    AllergyOut,
    ConditionIn,
    ConditionOut,
    MedicationIn,
    MedicationOut,
    PatientIn,
    PatientListItem,
    PatientOut,
    PatientPatch,
)

router = Router(tags=["patients"])

ChartEntry = Condition | Medication | Allergy


class SearchParams(Schema):
    q: str = ""


class AuditedPagination(PageNumbers):
    """Page numbers; the search is audited with the ids of the patients shown."""

    def paginate_queryset(self, queryset, pagination, request: HttpRequest, **params):
        page = super().paginate_queryset(queryset, pagination, request, **params)
        services.record_search(
            actor=cast(ClinicRequest, request).auth, patient_ids=[p.pk for p in page["items"]]
        )
        return page


@router.get("", response=list[PatientListItem], auth=allow("patient.view"))
@paginate(AuditedPagination, page_size=25)
def list_patients(request: ClinicRequest, filters: Query[SearchParams]):
    found = services.search_patients(actor=request.auth, query=filters.q)
    # Restricted charts the caller may not open are left out (break-glass is in the browser).
    return restricted.visible(found, request.auth)


@router.post("", response={201: PatientOut}, auth=allow("patient.create"))
def create_patient(request: ClinicRequest, payload: PatientIn) -> Status:
    actor = request.auth
    data = payload.dict(exclude_none=True, exclude={"version"})
    return Status(201, services.create_patient(actor=actor, data=data))


@router.get("/{patient_id}", response=PatientOut, auth=allow("patient.view"))
def read_patient(request: ClinicRequest, patient_id: int) -> Patient:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, read="api")
    return patient


@router.patch(
    "/{patient_id}", response={200: PatientOut, 409: ErrorOut}, auth=allow("patient.edit")
)
def update_patient(request: ClinicRequest, patient_id: int, payload: PatientPatch) -> Patient:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "patient.edit")
    data = payload.dict(exclude_unset=True, exclude={"version"})
    return services.update_patient(
        actor=actor, patient=patient, data=data, expected_version=payload.version
    )


def _entries(request: ClinicRequest, patient_id: int, model: type[ChartEntry]) -> list:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.view", read=str(model._meta.model_name))
    return list(model.objects.filter(patient=patient).order_by("-is_active", "-recorded_at"))


def _add(request: ClinicRequest, patient_id: int, model: type[ChartEntry], payload: Schema):
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    return Status(
        201,
        services.add_chart_entry(actor=actor, patient=patient, model=model, data=payload.dict()),
    )


@router.get("/{patient_id}/conditions", response=list[ConditionOut], auth=allow("clinical.view"))
def list_conditions(request: ClinicRequest, patient_id: int):
    return _entries(request, patient_id, Condition)


@router.post("/{patient_id}/conditions", response={201: ConditionOut}, auth=allow("clinical.edit"))
def add_condition(request: ClinicRequest, patient_id: int, payload: ConditionIn):
    return _add(request, patient_id, Condition, payload)


@router.get("/{patient_id}/medications", response=list[MedicationOut], auth=allow("clinical.view"))
def list_medications(request: ClinicRequest, patient_id: int):
    return _entries(request, patient_id, Medication)


@router.post(
    "/{patient_id}/medications", response={201: MedicationOut}, auth=allow("clinical.edit")
)
def add_medication(request: ClinicRequest, patient_id: int, payload: MedicationIn):
    return _add(request, patient_id, Medication, payload)


@router.get("/{patient_id}/allergies", response=list[AllergyOut], auth=allow("clinical.view"))
def list_allergies(request: ClinicRequest, patient_id: int):
    return _entries(request, patient_id, Allergy)


@router.post("/{patient_id}/allergies", response={201: AllergyOut}, auth=allow("clinical.edit"))
def add_allergy(request: ClinicRequest, patient_id: int, payload: AllergyIn):
    return _add(request, patient_id, Allergy, payload)


CHART_MODELS: dict[str, type[ChartEntry]] = {
    "conditions": Condition,
    "medications": Medication,
    "allergies": Allergy,
}


def _stop(request: ClinicRequest, patient_id: int, kind: str, entry_id: int):
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    entry = CHART_MODELS[kind].objects.filter(patient=patient, pk=entry_id).first()
    if entry is None:
        raise Http404("No such entry on this patient's record.")
    services.stop_chart_entry(actor=actor, entry=entry)
    entry.refresh_from_db()
    return entry


@router.post(
    "/{patient_id}/conditions/{entry_id}/stop", response=ConditionOut, auth=allow("clinical.edit")
)
def stop_condition(request: ClinicRequest, patient_id: int, entry_id: int):
    """Mark a condition inactive (it stays in the record's history)."""
    return _stop(request, patient_id, "conditions", entry_id)


@router.post(
    "/{patient_id}/medications/{entry_id}/stop",
    response=MedicationOut,
    auth=allow("clinical.edit"),
)
def stop_medication(request: ClinicRequest, patient_id: int, entry_id: int):
    """Mark a medication stopped (it stays in the record's history)."""
    return _stop(request, patient_id, "medications", entry_id)


@router.post(
    "/{patient_id}/allergies/{entry_id}/stop", response=AllergyOut, auth=allow("clinical.edit")
)
def stop_allergy(request: ClinicRequest, patient_id: int, entry_id: int):
    """Mark an allergy inactive (it stays in the record's history)."""
    return _stop(request, patient_id, "allergies", entry_id)


class AllergyStateOut(Schema):
    """The header's allergy answer: the active list, "none known", or the intake's words."""

    no_known_allergies: bool
    allergies_reported: str
    active: list[AllergyOut]


def _allergy_state(patient: Patient) -> dict:
    return {
        "no_known_allergies": patient.no_known_allergies,
        "allergies_reported": patient.allergies_reported,
        "active": list(patient.allergies.filter(is_active=True).order_by("substance")),
    }


@router.get("/{patient_id}/allergy-state", response=AllergyStateOut, auth=allow("clinical.view"))
def allergy_state(request: ClinicRequest, patient_id: int):
    """Whether allergies are recorded, none known (NKDA), or only reported at intake."""
    return _allergy_state(
        get_patient_for(request.auth, patient_id, "clinical.view", read="allergy_state")
    )


@router.post(
    "/{patient_id}/allergies/none-known",
    response={200: AllergyStateOut, 422: InvalidOut},
    auth=allow("clinical.edit"),
)
def no_known_allergies(request: ClinicRequest, patient_id: int):
    """Record "no known allergies" (NKDA); 422 while an allergy is on the active list."""
    from ketaclinic.patients.allergies import set_no_known_allergies

    patient = get_patient_for(request.auth, patient_id, "clinical.edit")
    set_no_known_allergies(actor=request.auth, patient=patient)
    patient.refresh_from_db()
    return _allergy_state(patient)
