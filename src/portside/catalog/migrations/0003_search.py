"""The search index (catalog/search.py): its tables, and per database the text index and
the triggers that keep the catalogue-wide facet counts.

The SQL below is built from constants only.
"""

# ruff: noqa: S608

import django.db.models.deletion
from django.db import migrations, models

# The facet values a SearchEntry row counts towards: (key expression, condition), over the
# row ``{row}`` (``new`` or ``old``).
_ENTRY_KEYS = [
    ("'all'", "1 = 1"),
    ("'category:' || {row}.category", "{row}.category <> ''"),
    ("'publisher:' || {row}.publisher", "1 = 1"),
    ("'price:free'", "{row}.free"),
    ("'price:paid'", "{row}.paid"),
    ("'certified'", "{row}.certified"),
]


def _sqlite_add(keys, row):
    return " ".join(
        f"INSERT INTO catalog_searchfacetcount (key, count) SELECT {key.format(row=row)}, 1 "
        f"WHERE {cond.format(row=row)} ON CONFLICT (key) DO UPDATE SET count = count + 1;"
        for key, cond in keys
    )


def _sqlite_remove(keys, row):
    return " ".join(
        f"UPDATE catalog_searchfacetcount SET count = count - 1 "
        f"WHERE key = {key.format(row=row)} AND {cond.format(row=row)};"
        for key, cond in keys
    )


def _pg(keys, row, delta):
    return " ".join(
        f"IF {cond.format(row=row)} THEN "
        f"PERFORM catalog_search_count({key.format(row=row)}, {delta}); END IF;"
        for key, cond in keys
    )


_TAG_KEYS = [("'tag:' || {row}.tag", "1 = 1")]

SQLITE = [
    (
        # Tokens are written already folded (search.tokens), so the tokenizer only splits
        # on spaces and must not fold them again.
        "CREATE VIRTUAL TABLE catalog_search_fts USING fts5("
        "name, tags, publisher, short, long, "
        "tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3')",
        "DROP TABLE catalog_search_fts",
    ),
    (
        "CREATE TRIGGER catalog_searchentry_added AFTER INSERT ON catalog_searchentry BEGIN "
        + _sqlite_add(_ENTRY_KEYS, "new")
        + " END",
        "DROP TRIGGER catalog_searchentry_added",
    ),
    (
        "CREATE TRIGGER catalog_searchentry_removed AFTER DELETE ON catalog_searchentry BEGIN "
        "DELETE FROM catalog_search_fts WHERE rowid = old.listing_id; "
        + _sqlite_remove(_ENTRY_KEYS, "old")
        + " END",
        "DROP TRIGGER catalog_searchentry_removed",
    ),
    (
        "CREATE TRIGGER catalog_searchentry_changed AFTER UPDATE OF "
        "category, publisher, free, paid, certified ON catalog_searchentry BEGIN "
        + _sqlite_remove(_ENTRY_KEYS, "old")
        + " "
        + _sqlite_add(_ENTRY_KEYS, "new")
        + " END",
        "DROP TRIGGER catalog_searchentry_changed",
    ),
    (
        "CREATE TRIGGER catalog_searchtag_added AFTER INSERT ON catalog_searchtag BEGIN "
        + _sqlite_add(_TAG_KEYS, "new")
        + " END",
        "DROP TRIGGER catalog_searchtag_added",
    ),
    (
        "CREATE TRIGGER catalog_searchtag_removed AFTER DELETE ON catalog_searchtag BEGIN "
        + _sqlite_remove(_TAG_KEYS, "old")
        + " END",
        "DROP TRIGGER catalog_searchtag_removed",
    ),
]

POSTGRESQL = [
    (
        # document: name (A), search tags (B), publisher (C), short description (D);
        # body: the long description. Kept beside the entry, whose rows stay narrow.
        "CREATE TABLE catalog_searchtext (listing_id bigint PRIMARY KEY, "
        "document tsvector NOT NULL, body tsvector NOT NULL)",
        "DROP TABLE catalog_searchtext",
    ),
    (
        "CREATE INDEX catalog_searchtext_document ON catalog_searchtext USING gin (document)",
        "DROP INDEX catalog_searchtext_document",
    ),
    (
        "CREATE INDEX catalog_searchtext_body ON catalog_searchtext USING gin (body)",
        "DROP INDEX catalog_searchtext_body",
    ),
    (
        "CREATE FUNCTION catalog_search_count(facet text, delta integer) RETURNS void "
        "LANGUAGE sql AS $$ INSERT INTO catalog_searchfacetcount (key, count) "
        "VALUES (facet, delta) ON CONFLICT (key) DO UPDATE "
        "SET count = catalog_searchfacetcount.count + delta $$",
        "DROP FUNCTION catalog_search_count(text, integer)",
    ),
    (
        "CREATE FUNCTION catalog_searchentry_counts() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP IN ('DELETE', 'UPDATE') THEN " + _pg(_ENTRY_KEYS, "OLD", -1) + " END IF; "
        "IF TG_OP IN ('INSERT', 'UPDATE') THEN " + _pg(_ENTRY_KEYS, "NEW", 1) + " END IF; "
        "IF TG_OP = 'DELETE' THEN "
        "DELETE FROM catalog_searchtext WHERE listing_id = OLD.listing_id; RETURN OLD; "
        "END IF; RETURN NEW; END $$",
        "DROP FUNCTION catalog_searchentry_counts()",
    ),
    (
        "CREATE TRIGGER catalog_searchentry_counts AFTER INSERT OR DELETE OR UPDATE OF "
        "category, publisher, free, paid, certified ON catalog_searchentry "
        "FOR EACH ROW EXECUTE FUNCTION catalog_searchentry_counts()",
        "DROP TRIGGER catalog_searchentry_counts ON catalog_searchentry",
    ),
    (
        "CREATE FUNCTION catalog_searchtag_counts() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF TG_OP = 'DELETE' THEN "
        + _pg(_TAG_KEYS, "OLD", -1)
        + " RETURN OLD; END IF; "
        + _pg(_TAG_KEYS, "NEW", 1)
        + " RETURN NEW; END $$",
        "DROP FUNCTION catalog_searchtag_counts()",
    ),
    (
        "CREATE TRIGGER catalog_searchtag_counts AFTER INSERT OR DELETE ON catalog_searchtag "
        "FOR EACH ROW EXECUTE FUNCTION catalog_searchtag_counts()",
        "DROP TRIGGER catalog_searchtag_counts ON catalog_searchtag",
    ),
]


class VendorSQL(migrations.RunSQL):
    """RunSQL that runs only on one database vendor."""

    def __init__(self, vendor, sql, reverse_sql):
        self.vendor = vendor
        super().__init__(sql, reverse_sql)

    def deconstruct(self):
        name, args, kwargs = super().deconstruct()
        return name, args, {**kwargs, "vendor": self.vendor}

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_default_categories"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchEntry",
            fields=[
                (
                    "listing",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search_entry",
                        serialize=False,
                        to="catalog.listing",
                    ),
                ),
                ("pulls", models.BigIntegerField(default=0)),
                ("first_published_at", models.DateTimeField()),
                ("certified", models.BooleanField(default=False)),
                ("category", models.CharField(blank=True, max_length=50)),
                ("publisher", models.CharField(max_length=100)),
                ("free", models.BooleanField(default=False)),
                ("paid", models.BooleanField(default=False)),
            ],
        ),
        migrations.CreateModel(
            name="SearchFacetCount",
            fields=[
                ("key", models.CharField(max_length=160, primary_key=True, serialize=False)),
                ("count", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="SearchState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.CharField(max_length=32)),
            ],
        ),
        migrations.CreateModel(
            name="SearchTag",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tag", models.CharField(max_length=100)),
            ],
        ),
        migrations.CreateModel(
            name="SearchCard",
            fields=[
                (
                    "entry",
                    models.OneToOneField(
                        db_column="listing_id",
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="card",
                        serialize=False,
                        to="catalog.searchentry",
                    ),
                ),
                ("card", models.JSONField(default=dict)),
                ("repositories", models.JSONField(default=list)),
            ],
        ),
        migrations.AddIndex(
            model_name="searchentry",
            index=models.Index(
                fields=["-pulls", "-first_published_at", "listing"], name="search_popular"
            ),
        ),
        migrations.AddIndex(
            model_name="searchentry",
            index=models.Index(fields=["-first_published_at", "listing"], name="search_newest"),
        ),
        migrations.AddIndex(
            model_name="searchentry",
            index=models.Index(fields=["category", "-pulls"], name="search_category"),
        ),
        migrations.AddIndex(
            model_name="searchentry",
            index=models.Index(fields=["publisher", "-pulls"], name="search_publisher"),
        ),
        migrations.AddField(
            model_name="searchtag",
            name="entry",
            field=models.ForeignKey(
                db_column="listing_id",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tags",
                to="catalog.searchentry",
            ),
        ),
        migrations.AddIndex(
            model_name="searchtag",
            index=models.Index(fields=["tag", "entry"], name="search_tag"),
        ),
        migrations.AddConstraint(
            model_name="searchtag",
            constraint=models.UniqueConstraint(fields=("entry", "tag"), name="search_tag_unique"),
        ),
        *(VendorSQL("sqlite", sql, reverse) for sql, reverse in SQLITE),
        *(VendorSQL("postgresql", sql, reverse) for sql, reverse in POSTGRESQL),
        migrations.RunSQL(
            "INSERT INTO catalog_searchstate (id, token) VALUES (1, '')",
            "DELETE FROM catalog_searchstate",
        ),
    ]
