"""Triggers that refuse UPDATE of ledger entries and transactions, invoices, refunds and
licence acceptances, whatever the client: money records are only ever added to. DELETE
is refused by the ORM (``AppendOnly``) and by the foreign keys that protect these rows;
a database trigger on DELETE would also stop the test suite's flushes, as for the audit
trail."""

from typing import Any

from django.db import migrations

TABLES = [
    "commerce_ledgerentry",
    "commerce_ledgertransaction",
    "commerce_invoice",
    "commerce_refund",
    "commerce_licenceacceptance",
]


def forwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION commerce_refuse_change() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION '%% is append-only', TG_TABLE_NAME; END; "
            "$$ LANGUAGE plpgsql;"
        )
    for table in TABLES:
        for event in ("UPDATE",):
            name = f"{table}_no_{event.lower()}"
            if vendor == "sqlite":
                schema_editor.execute(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
                )
            elif vendor == "postgresql":
                schema_editor.execute(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION commerce_refuse_change();"
                )


def backwards(apps: Any, schema_editor: Any) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    for table in TABLES:
        for event in ("update",):
            on = f" ON {table}" if postgres else ""
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}{on}")


class Migration(migrations.Migration):
    dependencies = [("commerce", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
