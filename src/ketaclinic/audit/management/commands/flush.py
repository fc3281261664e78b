"""Django's `flush`, which on SQLite first lifts the append-only delete guards.

Emptying the whole database is the one deliberate way to remove audit rows. On
PostgreSQL flush is a TRUNCATE, which row triggers do not see; SQLite has no TRUNCATE
and deletes table by table, so the triggers named `*_no_delete` (audit/migrations/0002)
are dropped and re-created around it, in one transaction. Test runs flush this way
after every transactional test.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import connections, transaction


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "sqlite":
            return super().handle(**options)
        with transaction.atomic(using=options["database"]), connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'trigger' AND name LIKE '%\\_no\\_delete' ESCAPE '\\'"
            )
            guards = cursor.fetchall()
            for name, _ in guards:
                cursor.execute(f'DROP TRIGGER "{name}"')
            super().handle(**options)
            for _, sql in guards:
                cursor.execute(sql)
        return None
