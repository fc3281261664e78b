"""Every audit action, as a closed vocabulary, each with its FHIR AuditEvent action code.

`AuditEvent.action` stays a plain column (no migration, and an event written by an older
release still reads back); `tests/audit/test_actions.py` checks that every action the code
writes is listed here, so a new or misspelt action fails a test, not an inspector's query.
The FHIR codes (http://hl7.org/fhir/audit-event-action): C create, R read/view, U update,
D delete, E execute (log-ins, searches, sending, exports: "perform a system or application
function").
"""

from __future__ import annotations

from django.db import models


class AuditAction(models.TextChoices):
    # create
    CREATE = "create"
    BOOK = "book"
    ADVERSE_EVENT = "adverse_event"
    VITALS = "vitals"
    OBSERVATION = "observation"
    DEVICE = "device"
    AMEND = "amend"
    FOLLOW_UP_CALL = "follow_up_call"
    PUBLISH = "publish"
    CALENDAR_FEED_ISSUED = "calendar_feed_issued"
    CLINIC_CREATED = "clinic_created"
    START = "start"
    INFUSION = "infusion"
    CORRECT = "correct"
    AE_REPORT_DUE = "ae_report_due"
    ALERT_OPEN = "alert_open"
    BOOK_INTEGRATION = "book_integration"
    CIRCLE_CREATE = "circle_create"
    CIRCLE_SEAT = "circle_seat"
    GOAL_RATING = "goal_rating"
    HOMEWORK_ADD = "homework_add"
    LIVER_TEST = "liver_test"
    PROGRESS_NOTE_AMEND = "progress_note_amend"
    PROGRESS_NOTE_CREATE = "progress_note_create"
    PORTAL_INVITE = "portal_invite"
    PORTAL_CHECKIN = "portal_checkin"
    PORTAL_MESSAGE = "portal_message"
    PORTAL_REQUEST = "portal_request"
    JOURNAL_ENTRY = "journal_entry"
    CLAIM_CREATE = "claim_create"
    PAYMENT_RECORD = "payment_record"
    BILLING_SETUP = "billing_setup"
    # read
    VIEW = "view"
    DOWNLOAD = "download"
    FHIR_READ = "fhir_read"
    FHIR_EXPORT_DOWNLOAD = "fhir_export_download"
    CALENDAR_FEED_READ = "calendar_feed_read"
    OUTCOMES_DRILLDOWN = "outcomes_drilldown"
    PSYCHOTHERAPY_NOTE_VIEW = "psychotherapy_note_view"
    BILLING_VIEW = "billing_view"
    # update
    WITNESS = "witness"
    SIGN = "sign"
    COSIGN = "cosign"
    CHECKLIST = "checklist"
    OVERRIDE = "override"
    OVERRIDE_LAPSED = "override_lapsed"
    DOSE_CHANGE = "dose_change"
    DISCHARGE_ASSESSMENT = "discharge_assessment"
    STATUS = "status"
    MOVE = "move"
    TRANSITION = "transition"
    UPDATE = "update"
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    WITHDRAW = "withdraw"
    UNLOCK = "unlock"
    TWO_FACTOR_RESET = "two_factor_reset"
    PORTAL_TWO_FACTOR_ON = "portal_two_factor_on"
    PORTAL_TWO_FACTOR_OFF = "portal_two_factor_off"
    REMS_SUBMITTED = "rems_submitted"
    CONSENT_TEMPLATES_REVIEWED = "consent_templates_reviewed"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    AE_REPORT_DRAFT = "ae_report_draft"
    AE_REPORT_SUBMITTED = "ae_report_submitted"
    BREAK_GLASS_REVIEW = "break_glass_review"
    CHART_RESTRICTION = "chart_restriction"
    CIRCLE_ATTENDANCE = "circle_attendance"
    CIRCLE_CANCEL = "circle_cancel"
    HOMEWORK_DONE = "homework_done"
    INTEGRATION_WINDOW_MOVED = "integration_window_moved"
    PROGRESS_NOTE_EDIT = "progress_note_edit"
    PROGRESS_NOTE_SIGN = "progress_note_sign"
    PSYCHOTHERAPY_NOTE_WRITE = "psychotherapy_note_write"
    SESSION_FORMAT = "session_format"
    JOURNAL_SHARE = "journal_share"
    MESSAGE_ASSIGN = "message_assign"
    MESSAGE_DONE = "message_done"
    PORTAL_REQUEST_HANDLED = "portal_request_handled"
    PORTAL_PASSWORD_SET = "portal_password_set"
    CHARGE_EDIT = "charge_edit"
    CHARGE_APPROVE = "charge_approve"
    CLAIM_STATUS = "claim_status"
    # delete
    DELETE = "delete"
    REVOKE = "revoke"
    FHIR_EXPORT_CANCEL = "fhir_export_cancel"
    # execute
    EXPORT = "export"
    FHIR_EXPORT = "fhir_export"
    FHIR_EXPORT_COMMAND = "fhir_export_command"
    SEND = "send"
    PLAN = "plan"
    ACTIVATE_REFUSED = "activate_refused"
    BACKUP = "backup"
    RESTORE = "restore"
    SEARCH = "search"
    FHIR_SEARCH = "fhir_search"
    LOGIN = "login"
    LOGOUT = "logout"
    LOGIN_FAILED = "login_failed"
    PORTAL_SIGN_IN_LINK_SENT = "portal_sign_in_link_sent"
    PORTAL_SIGN_IN_LINK_USED = "portal_sign_in_link_used"
    PORTAL_SIGN_IN_LINK_REFUSED = "portal_sign_in_link_refused"
    LOCKOUT = "lockout"
    TOKEN_USE = "token_use"
    PASSWORD_RESET_SENT = "password_reset_sent"
    REMINDER_SENT = "reminder_sent"
    MEASURES_ALERT_NOTIFY = "measures.alert_notify"
    MEASURES_LINK_REMIND = "measures.link_remind"
    MEASURES_LINK_SEND = "measures.link_send"
    AUDIT_JOURNAL_UNREADABLE = "audit_journal_unreadable"
    BREAK_GLASS = "break_glass"
    INTEGRATION_PLAN = "integration_plan"
    PSYCHOTHERAPY_NOTE_RELEASE = "psychotherapy_note_release"
    # A signed session's plain-language summary shown to (or taken back from) the patient.
    PORTAL_SUMMARY_RELEASE = "portal_summary_release"
    PORTAL_SUMMARY_WITHDRAW = "portal_summary_withdraw"
    CLAIM_EXPORT = "claim_export"
    REMITTANCE_IMPORT = "remittance_import"
    # The worker took a patient's story off the website: its authorization lapsed.
    STORY_UNPUBLISHED = "story_unpublished"


FHIR_ACTION: dict[str, str] = {
    # create
    AuditAction.CREATE: "C",
    AuditAction.BOOK: "C",
    AuditAction.ADVERSE_EVENT: "C",
    AuditAction.VITALS: "C",
    AuditAction.OBSERVATION: "C",
    AuditAction.DEVICE: "C",
    AuditAction.AMEND: "C",
    AuditAction.FOLLOW_UP_CALL: "C",
    AuditAction.PUBLISH: "C",
    AuditAction.CALENDAR_FEED_ISSUED: "C",
    AuditAction.CLINIC_CREATED: "C",
    AuditAction.START: "C",
    AuditAction.INFUSION: "C",
    AuditAction.CORRECT: "C",
    AuditAction.AE_REPORT_DUE: "C",
    AuditAction.ALERT_OPEN: "C",
    AuditAction.BOOK_INTEGRATION: "C",
    AuditAction.CIRCLE_CREATE: "C",
    AuditAction.CIRCLE_SEAT: "C",
    AuditAction.GOAL_RATING: "C",
    AuditAction.HOMEWORK_ADD: "C",
    AuditAction.LIVER_TEST: "C",
    AuditAction.PROGRESS_NOTE_AMEND: "C",
    AuditAction.PROGRESS_NOTE_CREATE: "C",
    AuditAction.CLAIM_CREATE: "C",
    AuditAction.PAYMENT_RECORD: "C",
    AuditAction.BILLING_SETUP: "C",
    # read
    AuditAction.VIEW: "R",
    AuditAction.DOWNLOAD: "R",
    AuditAction.FHIR_READ: "R",
    AuditAction.FHIR_EXPORT_DOWNLOAD: "R",
    AuditAction.CALENDAR_FEED_READ: "R",
    AuditAction.OUTCOMES_DRILLDOWN: "R",
    AuditAction.PSYCHOTHERAPY_NOTE_VIEW: "R",
    AuditAction.BILLING_VIEW: "R",
    # update
    AuditAction.WITNESS: "U",
    AuditAction.SIGN: "U",
    AuditAction.COSIGN: "U",
    AuditAction.CHECKLIST: "U",
    AuditAction.OVERRIDE: "U",
    AuditAction.OVERRIDE_LAPSED: "U",
    AuditAction.DOSE_CHANGE: "U",
    AuditAction.DISCHARGE_ASSESSMENT: "U",
    AuditAction.STATUS: "U",
    AuditAction.MOVE: "U",
    AuditAction.TRANSITION: "U",
    AuditAction.UPDATE: "U",
    AuditAction.ACTIVATE: "U",
    AuditAction.DEACTIVATE: "U",
    AuditAction.REACTIVATE: "U",
    AuditAction.ACKNOWLEDGE: "U",
    AuditAction.RESOLVE: "U",
    AuditAction.WITHDRAW: "U",
    AuditAction.UNLOCK: "U",
    AuditAction.TWO_FACTOR_RESET: "U",
    AuditAction.PORTAL_TWO_FACTOR_ON: "U",
    AuditAction.PORTAL_TWO_FACTOR_OFF: "U",
    AuditAction.REMS_SUBMITTED: "U",
    AuditAction.CONSENT_TEMPLATES_REVIEWED: "U",
    AuditAction.PAUSED: "U",
    AuditAction.COMPLETED: "U",
    AuditAction.STOPPED: "U",
    AuditAction.AE_REPORT_DRAFT: "U",
    AuditAction.AE_REPORT_SUBMITTED: "U",
    AuditAction.BREAK_GLASS_REVIEW: "U",
    AuditAction.CHART_RESTRICTION: "U",
    AuditAction.CIRCLE_ATTENDANCE: "U",
    AuditAction.CIRCLE_CANCEL: "U",
    AuditAction.HOMEWORK_DONE: "U",
    AuditAction.INTEGRATION_WINDOW_MOVED: "U",
    AuditAction.PROGRESS_NOTE_EDIT: "U",
    AuditAction.PROGRESS_NOTE_SIGN: "U",
    AuditAction.PSYCHOTHERAPY_NOTE_WRITE: "U",
    AuditAction.SESSION_FORMAT: "U",
    AuditAction.CHARGE_EDIT: "U",
    AuditAction.CHARGE_APPROVE: "U",
    AuditAction.CLAIM_STATUS: "U",
    # delete
    AuditAction.DELETE: "D",
    AuditAction.REVOKE: "D",
    AuditAction.FHIR_EXPORT_CANCEL: "D",
    # execute
    AuditAction.EXPORT: "E",
    AuditAction.FHIR_EXPORT: "E",
    AuditAction.FHIR_EXPORT_COMMAND: "E",
    AuditAction.SEND: "E",
    AuditAction.PLAN: "E",
    AuditAction.ACTIVATE_REFUSED: "E",
    AuditAction.BACKUP: "E",
    AuditAction.RESTORE: "E",
    AuditAction.SEARCH: "E",
    AuditAction.FHIR_SEARCH: "E",
    AuditAction.LOGIN: "E",
    AuditAction.LOGOUT: "E",
    AuditAction.LOGIN_FAILED: "E",
    AuditAction.PORTAL_SIGN_IN_LINK_SENT: "E",
    AuditAction.PORTAL_SIGN_IN_LINK_USED: "E",
    AuditAction.PORTAL_SIGN_IN_LINK_REFUSED: "E",
    AuditAction.LOCKOUT: "E",
    AuditAction.TOKEN_USE: "E",
    AuditAction.PASSWORD_RESET_SENT: "E",
    AuditAction.REMINDER_SENT: "E",
    AuditAction.MEASURES_ALERT_NOTIFY: "E",
    AuditAction.MEASURES_LINK_REMIND: "E",
    AuditAction.MEASURES_LINK_SEND: "E",
    AuditAction.AUDIT_JOURNAL_UNREADABLE: "E",
    AuditAction.BREAK_GLASS: "E",
    AuditAction.INTEGRATION_PLAN: "E",
    AuditAction.PSYCHOTHERAPY_NOTE_RELEASE: "E",
    AuditAction.PORTAL_SUMMARY_RELEASE: "E",
    AuditAction.PORTAL_SUMMARY_WITHDRAW: "E",
    AuditAction.PORTAL_INVITE: "C",
    AuditAction.PORTAL_CHECKIN: "C",
    AuditAction.PORTAL_MESSAGE: "C",
    AuditAction.PORTAL_REQUEST: "C",
    AuditAction.JOURNAL_ENTRY: "C",
    AuditAction.JOURNAL_SHARE: "U",
    AuditAction.MESSAGE_ASSIGN: "U",
    AuditAction.MESSAGE_DONE: "U",
    AuditAction.PORTAL_REQUEST_HANDLED: "U",
    AuditAction.PORTAL_PASSWORD_SET: "U",
    AuditAction.CLAIM_EXPORT: "E",
    AuditAction.REMITTANCE_IMPORT: "E",
    AuditAction.STORY_UNPUBLISHED: "U",
}


def fhir_action(action: str) -> str:
    """The FHIR AuditEvent.action code (C/R/U/D/E) of an audit action; E when unknown."""
    return FHIR_ACTION.get(action, "E")
