"""The therapist's /integration/ pages (thin: parse, check, call a service), by page family.

urls.py names each view through this package: `workspace` (the workspace and a patient's
timeline), `notes` (progress and private notes), `plans` (plan, goals, homework) and
`sessions` (a session's format, group circles).
"""

from ketaclinic.integration.views.notes import (
    private_note,
    private_note_new,
    progress_note,
    progress_note_new,
)
from ketaclinic.integration.views.plans import goal_rate, homework_add, homework_done, plan_edit
from ketaclinic.integration.views.sessions import circle_detail, circle_list, session_format
from ketaclinic.integration.views.workspace import patient_timeline, workspace

__all__ = [
    "circle_detail",
    "circle_list",
    "goal_rate",
    "homework_add",
    "homework_done",
    "patient_timeline",
    "plan_edit",
    "private_note",
    "private_note_new",
    "progress_note",
    "progress_note_new",
    "session_format",
    "workspace",
]
