"""Database guard for the audit log: triggers refuse UPDATE and DELETE of events and seals.

The content digests and seals detect tampering after the fact, but an event not yet
sealed (the worker seals every 2 s) could be deleted without a trace. These triggers
make any edit or delete through SQL fail; the one update allowed is the sealer setting
an event's seal once, from empty.

Emptying the whole database stays possible, deliberately: PostgreSQL's flush is a
TRUNCATE, which row triggers do not see, and on SQLite (which has no TRUNCATE) the
project's `flush` command lifts the triggers named `*_no_delete` for its DELETEs.
"""

from django.db import migrations

EVENTS = "audit_auditevent"
SEALS = "audit_auditseal"
# Every column of an event except seal_id (tests check this list against the model).
GUARDED = [
    "id", "event_id", "at", "clinic_id", "user_id", "username", "role", "patient_id",
    "action", "object_type", "object_id", "ip", "via_token", "detail", "digest",
]
MESSAGE = "the audit log is append-only"


def _event_edited(op: str) -> str:
    changed = [f"NEW.{c} {op} OLD.{c}" for c in GUARDED]
    return " OR ".join(["OLD.seal_id IS NOT NULL", "NEW.seal_id IS NULL", *changed])


SQLITE_UP = [
    f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON {EVENTS}
    WHEN {_event_edited("IS NOT")}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
    f"""CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON {EVENTS}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
    f"""CREATE TRIGGER audit_seal_no_update BEFORE UPDATE ON {SEALS}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
    f"""CREATE TRIGGER audit_seal_no_delete BEFORE DELETE ON {SEALS}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in (
        "audit_event_no_update",
        "audit_event_no_delete",
        "audit_seal_no_update",
        "audit_seal_no_delete",
    )
]

POSTGRES_UP = [
    f"""CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'DELETE' OR {_event_edited("IS DISTINCT FROM")} THEN
        RAISE EXCEPTION '{MESSAGE}';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;""",
    f"""CREATE TRIGGER audit_event_guard BEFORE UPDATE OR DELETE ON {EVENTS}
    FOR EACH ROW EXECUTE FUNCTION audit_event_guard();""",
    f"""CREATE OR REPLACE FUNCTION audit_seal_guard() RETURNS trigger AS $$
    BEGIN
      RAISE EXCEPTION '{MESSAGE}';
    END $$ LANGUAGE plpgsql;""",
    f"""CREATE TRIGGER audit_seal_guard BEFORE UPDATE OR DELETE ON {SEALS}
    FOR EACH ROW EXECUTE FUNCTION audit_seal_guard();""",
]
POSTGRES_DOWN = [
    f"DROP TRIGGER IF EXISTS audit_event_guard ON {EVENTS};",
    "DROP FUNCTION IF EXISTS audit_event_guard();",
    f"DROP TRIGGER IF EXISTS audit_seal_guard ON {SEALS};",
    "DROP FUNCTION IF EXISTS audit_seal_guard();",
]


def _run(statements: dict):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
