"""The second factor (TOTP and recovery codes), shared by the staff page and the patient portal.

An authenticator is enrolled in two steps: an unconfirmed TOTP device is made and shown
(QR code and key), and it becomes the user's second factor only once a code from it is
confirmed; ten one-time recovery codes are issued then. At log-in, a code from the
authenticator or an unused recovery code passes the second factor for that session.
"""

from __future__ import annotations

from base64 import b32encode

from django.db import transaction
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.models import User

RECOVERY_SESSION_KEY = "recovery_codes"


def clean_code(value: str) -> str:
    """A code as people type it: spaces (and a NUL) removed."""
    return (value or "").strip().replace(" ", "").replace("\x00", "")


def confirmed_device(user: User) -> TOTPDevice | None:
    """The user's enrolled authenticator, or None."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_device(user: User) -> TOTPDevice:
    """The authenticator being enrolled (made now if there is none yet)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def enrolment_view(device: TOTPDevice) -> dict[str, str]:
    """What the enrolment page shows: the QR code (SVG) and the key typed by hand, in fours."""
    key = b32encode(device.bin_key).decode()
    return {
        "qr_svg": _qr_svg(device.config_url),
        "manual_key": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
    }


def confirm_enrolment(request: HttpRequest, device: TOTPDevice, code: str) -> bool:
    """Confirm the pending device with a code from it; True when it now guards the account.

    The new recovery codes wait in the session, shown once (`RECOVERY_SESSION_KEY`), and
    this session counts as having passed the second factor.
    """
    if not device.verify_token(clean_code(code)):
        return False
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        request.session[RECOVERY_SESSION_KEY] = issue_recovery_codes(device.user)
    otp_login(request, device)
    return True


def verify(request: HttpRequest, user: User, code: str) -> bool:
    """Pass the second factor for this session with an authenticator or recovery code."""
    matched = match_token(user, clean_code(code))
    if matched is None:
        return False
    otp_login(request, matched)
    return True


def check_code(user: User, code: str) -> bool:
    """Whether `code` is a valid authenticator or recovery code now (a recovery code is spent)."""
    return match_token(user, clean_code(code)) is not None


def remove(user: User) -> None:
    """Remove the user's authenticator and recovery codes."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def issue_recovery_codes(user: User, count: int = 10) -> list[str]:
    """Replace the user's recovery codes with `count` new one-time codes; returns them."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(count)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def _qr_svg(data: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")
