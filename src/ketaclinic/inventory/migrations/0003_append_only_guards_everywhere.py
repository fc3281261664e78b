"""Database guard for every append-only ledger record: entries, counts, count lines, loss reports.

Replaces 0002's guard, which let a raw DELETE through on SQLite, left `id` unguarded and
let a witness be set on any kind of entry. Now, on both databases:

- no row of these tables is ever deleted;
- no column changes, except the FILL columns below, and those only from empty (NULL,
  or '' for text) to a value, once;
- an entry's witness may be filled only on a waste (destruction and adjustment are
  written co-signed, nothing else has a witness).

Emptying the whole database stays possible: PostgreSQL's flush is a TRUNCATE, which row
triggers do not see; on SQLite the project's `flush` command (audit/management/commands)
lifts the triggers named `*_no_delete` around its DELETEs. A reversed entry is also
unique per original (`entry_corrected_once`).

Tests check that GUARDED and FILL together name every column of each table.
"""

from django.db import migrations, models

MESSAGE = "ledger records are append-only: record a correcting entry"

# table -> (columns that never change, columns filled once from empty, extra SQL condition
# (OLD./NEW.) under which filling is refused).
TABLES = {
    "inventory_ledgerentry": {
        "name": "ledger",
        "GUARDED": [
            "id", "clinic_id", "location_id", "product_id", "lot_id", "kind", "quantity",
            "mg", "delta", "balance_after", "recorded_by_id", "recorded_at", "occurred_at",
            "corrects_id", "counterpart_id", "supplier_name", "supplier_address",
            "supplier_dea_number", "invoice", "containers", "patient_id", "session_ref",
            "manner", "witness_requested_id", "reason",
        ],
        "FILL": ["witness_id", "witnessed_at"],
        "fill_refused": "OLD.kind <> 'waste'",
    },
    "inventory_countsession": {
        "name": "count_session",
        "GUARDED": [
            "id", "clinic_id", "location_id", "kind", "timing", "counted_by_id", "counted_at",
            "note",
        ],
        "FILL": [],
        "fill_refused": "",
    },
    "inventory_countline": {
        "name": "count_line",
        "GUARDED": [
            "id", "session_id", "lot_id", "counted", "ledger_balance", "sealed_containers",
            "estimated",
        ],
        "FILL": ["resolved_by_id", "resolved_at"],
        "fill_refused": "",
    },
    "inventory_lossreport": {
        "name": "loss_report",
        "GUARDED": [
            "id", "clinic_id", "entry_id", "discovered_on", "notice_due", "form106_due",
            "circumstances", "theft_suspected", "created_at",
        ],
        "FILL": [
            "notice_sent_at", "notice_sent_by_id", "filed_at", "filed_by_id", "filed_reference",
        ],
        "fill_refused": "",
    },
}
TEXT_FILL = {"filed_reference"}  # filled from '' rather than from NULL


def _empty(column: str) -> str:
    return f"OLD.{column} = ''" if column in TEXT_FILL else f"OLD.{column} IS NULL"


def _edited(spec: dict, differs: str) -> str:
    """SQL that is true when an UPDATE changes what it may not."""
    conditions = [f"NEW.{c} {differs} OLD.{c}" for c in spec["GUARDED"]]
    for column in spec["FILL"]:
        refused = f"NOT ({_empty(column)})"
        if spec["fill_refused"]:
            refused += f" OR {spec['fill_refused']}"
        conditions.append(f"(NEW.{column} {differs} OLD.{column} AND ({refused}))")
    return " OR ".join(conditions)


def _sqlite_up() -> list[str]:
    statements = ["DROP TRIGGER IF EXISTS ledger_no_update;"]
    for table, spec in TABLES.items():
        statements += [
            f"""CREATE TRIGGER {spec["name"]}_no_update BEFORE UPDATE ON {table}
            WHEN {_edited(spec, "IS NOT")}
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
            f"""CREATE TRIGGER {spec["name"]}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
        ]
    return statements


def _sqlite_down() -> list[str]:
    from importlib import import_module

    previous = import_module("ketaclinic.inventory.migrations.0002_append_only_triggers")
    statements = []
    for spec in TABLES.values():
        statements += [
            f"DROP TRIGGER IF EXISTS {spec['name']}_no_update;",
            f"DROP TRIGGER IF EXISTS {spec['name']}_no_delete;",
        ]
    return statements + previous.SQLITE_UP


def _postgres_up() -> list[str]:
    statements = [
        "DROP TRIGGER IF EXISTS ledger_append_only ON inventory_ledgerentry;",
        "DROP FUNCTION IF EXISTS ledger_append_only();",
    ]
    for table, spec in TABLES.items():
        name = spec["name"]
        statements += [
            f"""CREATE OR REPLACE FUNCTION {name}_append_only() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION '{MESSAGE}';
              END IF;
              IF {_edited(spec, "IS DISTINCT FROM")} THEN
                RAISE EXCEPTION '{MESSAGE}';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;""",
            f"""CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {name}_append_only();""",
        ]
    return statements


def _postgres_down() -> list[str]:
    from importlib import import_module

    previous = import_module("ketaclinic.inventory.migrations.0002_append_only_triggers")
    statements = []
    for table, spec in TABLES.items():
        statements += [
            f"DROP TRIGGER IF EXISTS {spec['name']}_append_only ON {table};",
            f"DROP FUNCTION IF EXISTS {spec['name']}_append_only();",
        ]
    return statements + previous.POSTGRES_UP


def _run(statements):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, lambda: [])():
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_append_only_triggers")]

    operations = [
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("corrects__isnull", False)),
                fields=("corrects",),
                name="entry_corrected_once",
            ),
        ),
        migrations.RunPython(
            _run({"sqlite": _sqlite_up, "postgresql": _postgres_up}),
            _run({"sqlite": _sqlite_down, "postgresql": _postgres_down}),
        ),
    ]
