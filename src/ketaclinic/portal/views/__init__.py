"""The patient portal's pages (phone first) and the staff pages it needs (inbox, requests).

Patient pages use `portal_page`: the patient comes from the log-in, never from the URL,
and any id in a portal URL is looked up among the patient's own rows (404 otherwise).
The modules are named for what the pages do; urls.py reads `views.<name>`.
"""

from ketaclinic.portal.views.account import (
    invite_accept,
    security,
    sign_in_code,
    sign_in_link,
    sign_in_request,
)
from ketaclinic.portal.views.care import (
    homework,
    homework_done,
    journal,
    journal_share,
    progress,
    questionnaire,
    questionnaires,
)
from ketaclinic.portal.views.conversations import messages, thread
from ketaclinic.portal.views.document_pages import consent_pdf, document_pdf, documents
from ketaclinic.portal.views.staff import (
    inbox,
    request_handled,
    staff_invite,
    staff_thread,
    staff_thread_assign,
    staff_thread_done,
    summary_release,
    summary_withdraw,
)
from ketaclinic.portal.views.visits import (
    appointment_change,
    appointment_ics,
    appointments,
    checkin,
    home,
)

__all__ = [
    "appointment_change",
    "appointment_ics",
    "appointments",
    "checkin",
    "consent_pdf",
    "document_pdf",
    "documents",
    "home",
    "homework",
    "homework_done",
    "inbox",
    "invite_accept",
    "journal",
    "journal_share",
    "messages",
    "progress",
    "questionnaire",
    "questionnaires",
    "request_handled",
    "security",
    "sign_in_code",
    "sign_in_link",
    "sign_in_request",
    "staff_invite",
    "staff_thread",
    "staff_thread_assign",
    "staff_thread_done",
    "summary_release",
    "summary_withdraw",
    "thread",
]
