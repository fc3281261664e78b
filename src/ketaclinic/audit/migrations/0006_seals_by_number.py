"""Seals name the run of event numbers they cover; events no longer point at their seal.

Sealing used to UPDATE every sealed event (its `seal_id`), which rewrote each row and
all ten of its index entries a second time: on PostgreSQL that held sealing to about
27,000 events/s. A seal now records the first and last sequence number it covers
(`first_seq`, `last_seq`), filled here from the events of each existing seal, and the
events' `seal_id` column goes. With it goes the one update the guard allowed: the
triggers are re-created so that an event can be neither updated nor deleted at all.
"""

import importlib

from django.db import migrations, models

PREVIOUS = importlib.import_module("ketaclinic.audit.migrations.0003_event_numbers_ops")
EVENTS, SEALS, CHAINS, MESSAGE = (
    PREVIOUS.EVENTS,
    PREVIOUS.SEALS,
    PREVIOUS.CHAINS,
    PREVIOUS.MESSAGE,
)
# Every column of an event (tests check this list against the model).
GUARDED = PREVIOUS.GUARDED


def _keep(statements, *names):
    return [s for s in statements if any(name in s for name in names)]


SQLITE_UP = [
    f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON {EVENTS}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
    *_keep(PREVIOUS.SQLITE_UP, "audit_event_no_delete", "audit_seal_", "audit_chain_"),
]
SQLITE_DOWN = PREVIOUS.SQLITE_DOWN
POSTGRES_UP = [
    f"""CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger AS $$
    BEGIN
      RAISE EXCEPTION '{MESSAGE}';
    END $$ LANGUAGE plpgsql;""",
    *PREVIOUS.POSTGRES_UP[1:],
]
POSTGRES_DOWN = PREVIOUS.POSTGRES_DOWN
_run = PREVIOUS._run


def number_existing_seals(apps, schema_editor):
    """Each existing seal covers the numbers of the events that named it."""
    schema_editor.execute(
        f"""UPDATE {SEALS} SET
          first_seq = COALESCE((SELECT MIN(e.seq) FROM {EVENTS} e WHERE e.seal_id = {SEALS}.id), 0),
          last_seq = COALESCE((SELECT MAX(e.seq) FROM {EVENTS} e WHERE e.seal_id = {SEALS}.id), 0)
        """  # noqa: S608 (table names are constants)
    )


def point_events_at_seals(apps, schema_editor):
    """Going back: each event names the seal whose numbers cover it."""
    schema_editor.execute(
        f"""UPDATE {EVENTS} SET seal_id = (
          SELECT s.id FROM {SEALS} s
          WHERE s.chain = COALESCE({EVENTS}.clinic_id, 0)
            AND {EVENTS}.seq BETWEEN s.first_seq AND s.last_seq
        )"""  # noqa: S608 (table names are constants)
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_unsealed_by_number")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": PREVIOUS.SQLITE_DOWN, "postgresql": PREVIOUS.POSTGRES_DOWN}),
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
        ),
        migrations.AddField(
            model_name="auditseal",
            name="first_seq",
            field=models.PositiveBigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditseal",
            name="last_seq",
            field=models.PositiveBigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunPython(number_existing_seals, point_events_at_seals),
        migrations.RemoveIndex(model_name="auditevent", name="audit_unsealed_seq_idx"),
        migrations.RemoveField(model_name="auditevent", name="seal"),
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        ),
    ]
