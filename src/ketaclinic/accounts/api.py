"""The caller's own API tokens: /api/v1/tokens."""


from datetime import datetime

from django.http import Http404, HttpRequest
from ninja import Router, Schema

from ketaclinic.accounts.access import current_membership
from ketaclinic.accounts.models import ApiToken

router = Router(tags=["tokens"])


class TokenOut(Schema):
    id: int
    name: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@router.get("", response=list[TokenOut])
def list_tokens(request: HttpRequest):  # type: ignore[no-untyped-def]
    return list(ApiToken.objects.filter(membership__user=request.user).order_by("-created_at"))


@router.post("/{token_id}/revoke", response=TokenOut)
def revoke_token(request: HttpRequest, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, membership__user=request.user).first()
    if token is None or current_membership(request) is None:
        raise Http404("No such token.")
    token.revoke()
    token.refresh_from_db()
    return token
