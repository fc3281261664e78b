"""Chain ledger entries by hash (inventory/ledger_chain.py) and guard the two new columns.

Existing entries are hashed in the order they were written, lot by lot. The ledger's
guard trigger (0003) is lifted for that and re-created with `prev_hash` and `hash`
among the columns that never change.
"""

import importlib

from django.db import migrations, models

from ketaclinic.inventory import ledger_chain

PREVIOUS = importlib.import_module(
    "ketaclinic.inventory.migrations.0003_append_only_guards_everywhere"
)
TABLE = "inventory_ledgerentry"
SPEC = dict(PREVIOUS.TABLES[TABLE])
SPEC["GUARDED"] = [*SPEC["GUARDED"], "prev_hash", "hash"]
# Tests check GUARDED and FILL against the models' columns.
TABLES = {**PREVIOUS.TABLES, TABLE: SPEC}


def _guard(spec):
    name, message = spec["name"], PREVIOUS.MESSAGE
    return {
        "sqlite": [
            f"""CREATE TRIGGER {name}_no_update BEFORE UPDATE ON {TABLE}
            WHEN {PREVIOUS._edited(spec, "IS NOT")}
            BEGIN SELECT RAISE(ABORT, '{message}'); END;""",
            f"""CREATE TRIGGER {name}_no_delete BEFORE DELETE ON {TABLE}
            BEGIN SELECT RAISE(ABORT, '{message}'); END;""",
        ],
        "postgresql": [
            f"""CREATE OR REPLACE FUNCTION {name}_append_only() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION '{message}';
              END IF;
              IF {PREVIOUS._edited(spec, "IS DISTINCT FROM")} THEN
                RAISE EXCEPTION '{message}';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;""",
            f"""CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION {name}_append_only();""",
        ],
    }


LIFT = {
    "sqlite": ["DROP TRIGGER IF EXISTS ledger_no_update;", "DROP TRIGGER IF EXISTS ledger_no_delete;"],
    "postgresql": [f"DROP TRIGGER IF EXISTS ledger_append_only ON {TABLE};"],
}


def _run(*statement_sets):
    def run(apps, schema_editor):
        for statements in statement_sets:
            for sql in statements.get(schema_editor.connection.vendor, []):
                schema_editor.execute(sql)

    return run


def hash_existing_entries(apps, schema_editor):
    LedgerEntry = apps.get_model("inventory", "LedgerEntry")
    prev_by_lot = {}
    for entry in LedgerEntry.objects.order_by("lot_id", "id").values("id", *ledger_chain.HASHED):
        prev = prev_by_lot.get(entry["lot_id"], ledger_chain.GENESIS)
        digest = ledger_chain.entry_hash(entry, prev)
        # The historical model's queryset is Django's own: no append-only refusal here.
        LedgerEntry.objects.filter(pk=entry["id"]).update(prev_hash=prev, hash=digest)
        prev_by_lot[entry["lot_id"]] = digest


class Migration(migrations.Migration):
    dependencies = [("inventory", "0003_append_only_guards_everywhere")]

    operations = [
        migrations.RunPython(_run(LIFT), _run(LIFT, _guard(PREVIOUS.TABLES[TABLE]))),
        migrations.AddField(
            model_name="ledgerentry",
            name="hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="ledgerentry",
            name="prev_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(hash_existing_entries, migrations.RunPython.noop),
        migrations.RunPython(_run(LIFT, _guard(SPEC)), _run(LIFT)),
    ]
