"""Patient record API: /api/v1/patients."""


from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import PageNumberPagination, paginate

from ketaclinic.accounts.access import require_api
from ketaclinic.patients import services
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


class SearchParams(Schema):
    q: str = ""


class AuditedPagination(PageNumberPagination):
    """Page numbers; the search is audited with the ids of the patients shown."""

    def paginate_queryset(self, queryset, pagination, request, **params):  # type: ignore[no-untyped-def]
        page = super().paginate_queryset(queryset, pagination, request, **params)
        services.record_search(actor=request.actor, patient_ids=[p.pk for p in page["items"]])
        return page


@router.get("", response=list[PatientListItem])
@paginate(AuditedPagination, page_size=25)
def list_patients(request: HttpRequest, filters: Query[SearchParams]):  # type: ignore[no-untyped-def]
    request.actor = require_api(request, "patient.view")  # type: ignore[attr-defined]
    return services.search_patients(actor=request.actor, query=filters.q)  # type: ignore[attr-defined]


@router.post("", response={201: PatientOut})
def create_patient(request: HttpRequest, payload: PatientIn) -> Status:
    actor = require_api(request, "patient.create")
    data = payload.dict(exclude_none=True, exclude={"version"})
    return Status(201, services.create_patient(actor=actor, data=data))


@router.get("/{patient_id}", response=PatientOut)
def read_patient(request: HttpRequest, patient_id: int) -> Patient:
    actor = require_api(request, "patient.view")
    patient = get_patient_for(actor, patient_id)
    services.view_patient(actor=actor, patient=patient, what="api")
    return patient


@router.patch("/{patient_id}", response=PatientOut)
def update_patient(request: HttpRequest, patient_id: int, payload: PatientPatch) -> Patient:
    actor = require_api(request, "patient.edit")
    patient = get_patient_for(actor, patient_id, "patient.edit")
    data = payload.dict(exclude_unset=True, exclude={"version"})
    return services.update_patient(
        actor=actor, patient=patient, data=data, expected_version=payload.version
    )


def _entries(request: HttpRequest, patient_id: int, model: type) -> list:  # type: ignore[type-arg]
    actor = require_api(request, "clinical.view")
    patient = get_patient_for(actor, patient_id, "clinical.view")
    services.view_patient(actor=actor, patient=patient, what=model._meta.model_name)
    return list(model.objects.filter(patient=patient).order_by("-is_active", "-recorded_at"))


def _add(request: HttpRequest, patient_id: int, model: type, payload: Schema):  # type: ignore[no-untyped-def,type-arg]
    actor = require_api(request, "clinical.edit")
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    return Status(
        201, services.add_chart_entry(actor=actor, patient=patient, model=model, data=payload.dict())
    )


@router.get("/{patient_id}/conditions", response=list[ConditionOut])
def list_conditions(request: HttpRequest, patient_id: int):  # type: ignore[no-untyped-def]
    return _entries(request, patient_id, Condition)


@router.post("/{patient_id}/conditions", response={201: ConditionOut})
def add_condition(request: HttpRequest, patient_id: int, payload: ConditionIn):  # type: ignore[no-untyped-def]
    return _add(request, patient_id, Condition, payload)


@router.get("/{patient_id}/medications", response=list[MedicationOut])
def list_medications(request: HttpRequest, patient_id: int):  # type: ignore[no-untyped-def]
    return _entries(request, patient_id, Medication)


@router.post("/{patient_id}/medications", response={201: MedicationOut})
def add_medication(request: HttpRequest, patient_id: int, payload: MedicationIn):  # type: ignore[no-untyped-def]
    return _add(request, patient_id, Medication, payload)


@router.get("/{patient_id}/allergies", response=list[AllergyOut])
def list_allergies(request: HttpRequest, patient_id: int):  # type: ignore[no-untyped-def]
    return _entries(request, patient_id, Allergy)


@router.post("/{patient_id}/allergies", response={201: AllergyOut})
def add_allergy(request: HttpRequest, patient_id: int, payload: AllergyIn):  # type: ignore[no-untyped-def]
    return _add(request, patient_id, Allergy, payload)
