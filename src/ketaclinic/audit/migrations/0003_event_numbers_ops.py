"""Number every audit event in its clinic's chain and link it to the one before.

A missing event that was never sealed is now detected too: each clinic's events are
numbered 1, 2, 3 ... (`seq`) with a running hash (`link`), and the chain's head row
(`AuditChain`) says how far the numbering went. Existing events are numbered in the
order they were written (id). The guard triggers of 0002 are re-created so that `seq`
and `link` are guarded like every other column, and a chain's head may only move forward
by one.
"""

import hashlib
import importlib

from django.conf import settings
from django.db import migrations, models

PREVIOUS = importlib.import_module("ketaclinic.audit.migrations.0002_append_only_guard")
EVENTS, SEALS, MESSAGE = PREVIOUS.EVENTS, PREVIOUS.SEALS, PREVIOUS.MESSAGE
CHAINS = "audit_auditchain"
GENESIS = "0" * 64
# Every column of an event except seal_id (tests check this list against the model).
GUARDED = [*PREVIOUS.GUARDED, "seq", "link"]


def _event_edited(op):
    changed = [f"NEW.{c} {op} OLD.{c}" for c in GUARDED]
    return " OR ".join(["OLD.seal_id IS NOT NULL", "NEW.seal_id IS NULL", *changed])


def _chain_moved(op):
    return f"NEW.id {op} OLD.id OR NEW.chain {op} OLD.chain OR NEW.seq {op} OLD.seq + 1"


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
    f"""CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON {CHAINS}
    WHEN {_chain_moved("IS NOT")}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
    f"""CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON {CHAINS}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
]
SQLITE_DOWN = [
    *PREVIOUS.SQLITE_DOWN,
    "DROP TRIGGER IF EXISTS audit_chain_no_update;",
    "DROP TRIGGER IF EXISTS audit_chain_no_delete;",
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
    f"""CREATE OR REPLACE FUNCTION audit_chain_guard() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'DELETE' OR {_chain_moved("IS DISTINCT FROM")} THEN
        RAISE EXCEPTION '{MESSAGE}';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;""",
    f"""CREATE TRIGGER audit_chain_guard BEFORE UPDATE OR DELETE ON {CHAINS}
    FOR EACH ROW EXECUTE FUNCTION audit_chain_guard();""",
]
POSTGRES_DOWN = [
    *PREVIOUS.POSTGRES_DOWN,
    f"DROP TRIGGER IF EXISTS audit_chain_guard ON {CHAINS};",
    "DROP FUNCTION IF EXISTS audit_chain_guard();",
]


def _run(statements):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


def number_existing_events(apps, schema_editor):
    """Number each clinic's existing events in the order they were written."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChain = apps.get_model("audit", "AuditChain")
    heads = {}
    for event in AuditEvent.objects.order_by("id").only("id", "clinic_id", "digest").iterator():
        chain = event.clinic_id or 0
        seq, link = heads.get(chain, (0, GENESIS))
        seq, link = seq + 1, hashlib.sha256((link + event.digest).encode()).hexdigest()
        AuditEvent.objects.filter(pk=event.pk).update(seq=seq, link=link)
        heads[chain] = (seq, link)
    for chain, (seq, link) in heads.items():
        AuditChain.objects.create(chain=chain, seq=seq, head=link)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('audit', '0002_append_only_guard'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": PREVIOUS.SQLITE_DOWN, "postgresql": PREVIOUS.POSTGRES_DOWN}),
            _run({"sqlite": PREVIOUS.SQLITE_UP, "postgresql": PREVIOUS.POSTGRES_UP}),
        ),
        migrations.CreateModel(
            name='AuditChain',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('chain', models.BigIntegerField(help_text='The clinic id, or 0 for events outside a clinic.', unique=True)),
                ('seq', models.PositiveBigIntegerField(default=0)),
                ('head', models.CharField(max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name='Heartbeat',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=40, unique=True)),
                ('at', models.DateTimeField()),
            ],
        ),
        migrations.AddField(
            model_name='auditevent',
            name='link',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='seq',
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name='auditevent',
            constraint=models.UniqueConstraint(fields=('clinic', 'seq'), name='audit_one_event_per_seq'),
        ),
        migrations.RunPython(number_existing_events, migrations.RunPython.noop),
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        ),
    ]
