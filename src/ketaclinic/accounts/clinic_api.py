"""The clinic's two-factor requirement in the API: what the staff page's settings form does.

`GET /api/v1/clinic/two-factor` and `PUT` (admins: `staff.manage`) call the same service
as the page (accounts.services.set_two_factor_requirement), with its audit event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ninja import Router, Schema
from pydantic import Field

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.accounts.models import Clinic
from ketaclinic.accounts.services import set_two_factor_requirement
from ketaclinic.api_auth import allow
from ketaclinic.api_schemas import StrictIn

router = Router(tags=["staff"])


class TwoFactorRequirementIn(StrictIn):
    required: bool
    # Days staff may keep working before they must enrol (they are asked at once).
    grace_days: Annotated[int, Field(ge=0, le=30)] = 7


class TwoFactorRequirementOut(Schema):
    required: bool
    grace_days: int
    required_since: datetime | None


def _out(clinic: Clinic) -> dict[str, object]:
    return {
        "required": clinic.require_two_factor,
        "grace_days": clinic.two_factor_grace_days,
        "required_since": clinic.two_factor_required_since,
    }


@router.get("/clinic/two-factor", response=TwoFactorRequirementOut, auth=allow("staff.manage"))
def read_two_factor(request: ClinicRequest) -> dict[str, object]:
    return _out(Clinic.objects.get(pk=request.auth.clinic.pk))


@router.put("/clinic/two-factor", response=TwoFactorRequirementOut, auth=allow("staff.manage"))
def put_two_factor(request: ClinicRequest, payload: TwoFactorRequirementIn) -> dict[str, object]:
    """Require two-factor log-in for all staff (with days of grace), or stop requiring it."""
    clinic = set_two_factor_requirement(
        actor=request.auth, required=payload.required, grace_days=payload.grace_days
    )
    return _out(clinic)
