"""PostgreSQL only: the words of the search index, so that a query's last term, a prefix,
is looked up as the words it stands for (exact GIN lookups) rather than as a prefix,
which PostgreSQL answers by scanning a range of the index and testing every row found
again. SQLite's FTS5 has its own prefix indexes."""

from django.db import migrations

CREATE = [
    'CREATE TABLE catalog_searchword (word text COLLATE "C" PRIMARY KEY)',
    # Every word of the index as it is now.
    "INSERT INTO catalog_searchword (word) SELECT word FROM "
    "ts_stat('SELECT document || body FROM catalog_searchtext') ON CONFLICT DO NOTHING",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in CREATE:
            schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TABLE catalog_searchword")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_search"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
