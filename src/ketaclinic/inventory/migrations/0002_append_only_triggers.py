"""Database guard for the append-only ledger: a trigger refuses edits (and, on PostgreSQL, deletes).

Only the witness columns may change, and only from empty (a waste confirmed once).
SQLite gets no DELETE trigger: Django's test flush empties tables with DELETE, and the
model and queryset already refuse deletes; PostgreSQL flushes with TRUNCATE, which row
triggers do not see.
"""

from django.db import migrations

GUARDED = [
    "clinic_id", "location_id", "product_id", "lot_id", "kind", "quantity", "mg", "delta",
    "balance_after", "recorded_by_id", "recorded_at", "occurred_at", "corrects_id",
    "counterpart_id", "supplier_name", "supplier_address", "supplier_dea_number", "invoice",
    "containers", "patient_id", "session_ref", "manner", "witness_requested_id", "reason",
]
TABLE = "inventory_ledgerentry"
MESSAGE = "ledger entries are append-only: record a correcting entry"


def _changed(op: str) -> str:
    columns = [f"NEW.{c} {op} OLD.{c}" for c in GUARDED]
    columns.append(f"(OLD.witness_id IS NOT NULL AND NEW.witness_id {op} OLD.witness_id)")
    columns.append(f"(OLD.witnessed_at IS NOT NULL AND NEW.witnessed_at {op} OLD.witnessed_at)")
    return " OR ".join(columns)


SQLITE_UP = [
    f"""CREATE TRIGGER ledger_no_update BEFORE UPDATE ON {TABLE}
    WHEN {_changed("IS NOT")}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS ledger_no_update;"]

POSTGRES_UP = [
    f"""CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '{MESSAGE}';
      END IF;
      IF {_changed("IS DISTINCT FROM")} THEN
        RAISE EXCEPTION '{MESSAGE}';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;""",
    f"""CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();""",
]
POSTGRES_DOWN = [
    f"DROP TRIGGER IF EXISTS ledger_append_only ON {TABLE};",
    "DROP FUNCTION IF EXISTS ledger_append_only();",
]


def _run(statements: dict):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
