"""The caller's own API tokens: /api/v1/tokens."""

from datetime import datetime

from django.http import Http404
from ninja import Router, Schema

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.accounts.models import ApiToken
from ketaclinic.api_auth import allow
from ketaclinic.audit.services import record

router = Router(tags=["tokens"])


class TokenOut(Schema):
    id: int
    name: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@router.get("", response=list[TokenOut], auth=allow("account.tokens"))
def list_tokens(request: ClinicRequest):
    return list(ApiToken.objects.filter(membership=request.auth.membership).order_by("-created_at"))


@router.post("/{token_id}/revoke", response=TokenOut, auth=allow("account.tokens"))
def revoke_token(request: ClinicRequest, token_id: int) -> ApiToken:
    actor = request.auth
    token = ApiToken.objects.filter(pk=token_id, membership=actor.membership).first()
    if token is None:
        raise Http404("No such token.")
    token.revoke()
    record(actor, "revoke", obj=token)
    token.refresh_from_db()
    return token
