"""The search index (catalog/search.py): its tables, and per database the text index and
the triggers that keep the facet counts."""

import django.db.models.deletion
from django.db import migrations, models

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
        "CREATE TRIGGER catalog_searchentry_text AFTER DELETE ON catalog_searchentry "
        "BEGIN DELETE FROM catalog_search_fts WHERE rowid = old.listing_id; END",
        "DROP TRIGGER catalog_searchentry_text",
    ),
    (
        "CREATE TRIGGER catalog_searchfacet_added AFTER INSERT ON catalog_searchfacet "
        "BEGIN INSERT INTO catalog_searchfacetcount (key, count) VALUES (new.key, 1) "
        "ON CONFLICT (key) DO UPDATE SET count = count + 1; END",
        "DROP TRIGGER catalog_searchfacet_added",
    ),
    (
        "CREATE TRIGGER catalog_searchfacet_removed AFTER DELETE ON catalog_searchfacet "
        "BEGIN UPDATE catalog_searchfacetcount SET count = count - 1 WHERE key = old.key; END",
        "DROP TRIGGER catalog_searchfacet_removed",
    ),
]

POSTGRESQL = [
    (
        # document: name (A), search tags (B), publisher (C), short description (D);
        # body: the long description.
        "ALTER TABLE catalog_searchentry "
        "ADD COLUMN document tsvector NOT NULL DEFAULT ''::tsvector, "
        "ADD COLUMN body tsvector NOT NULL DEFAULT ''::tsvector",
        "ALTER TABLE catalog_searchentry DROP COLUMN document, DROP COLUMN body",
    ),
    (
        "CREATE INDEX catalog_search_document ON catalog_searchentry USING gin (document)",
        "DROP INDEX catalog_search_document",
    ),
    (
        "CREATE INDEX catalog_search_body ON catalog_searchentry USING gin (body)",
        "DROP INDEX catalog_search_body",
    ),
    (
        """
        CREATE FUNCTION catalog_searchfacet_count() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO catalog_searchfacetcount (key, count) VALUES (NEW.key, 1)
                ON CONFLICT (key) DO UPDATE SET count = catalog_searchfacetcount.count + 1;
                RETURN NEW;
            END IF;
            UPDATE catalog_searchfacetcount SET count = count - 1 WHERE key = OLD.key;
            RETURN OLD;
        END
        $$
        """,
        "DROP FUNCTION catalog_searchfacet_count()",
    ),
    (
        "CREATE TRIGGER catalog_searchfacet_count AFTER INSERT OR DELETE "
        "ON catalog_searchfacet FOR EACH ROW EXECUTE FUNCTION catalog_searchfacet_count()",
        "DROP TRIGGER catalog_searchfacet_count ON catalog_searchfacet",
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
    dependencies = [("catalog", "0002_default_categories")]

    operations = [
        migrations.CreateModel(
            name="SearchFacetCount",
            fields=[
                ("key", models.CharField(max_length=120, primary_key=True, serialize=False)),
                ("count", models.BigIntegerField(default=0)),
            ],
        ),
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
                ("card", models.JSONField(default=dict)),
                ("repositories", models.JSONField(default=list)),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["-pulls", "-first_published_at", "listing"],
                        name="search_popular",
                    ),
                    models.Index(fields=["-first_published_at", "listing"], name="search_newest"),
                ],
            },
        ),
        migrations.CreateModel(
            name="SearchFacet",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(max_length=120)),
                (
                    "entry",
                    models.ForeignKey(
                        db_column="listing_id",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="facets",
                        to="catalog.searchentry",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["key", "entry"], name="search_facet_key")],
                "constraints": [
                    models.UniqueConstraint(fields=("entry", "key"), name="search_facet_unique")
                ],
            },
        ),
        *(VendorSQL("sqlite", sql, reverse) for sql, reverse in SQLITE),
        *(VendorSQL("postgresql", sql, reverse) for sql, reverse in POSTGRESQL),
    ]
