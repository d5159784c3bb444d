"""Blobs get ``available`` (garbage collection makes a row unavailable before it deletes the
bytes); uploads name their repository and organisation instead of linking a repository row,
which is now created by the first completed push."""

import django.db.models.deletion
from django.db import migrations, models


def name_repositories(apps, schema_editor):  # type: ignore[no-untyped-def]
    Upload = apps.get_model("registry", "Upload")
    for upload in Upload.objects.select_related("repository").iterator():
        Upload.objects.filter(pk=upload.pk).update(
            repository_name=upload.repository.name,
            organization_id=upload.repository.organization_id,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("registry", "0002_upload_staged_size"),
    ]

    operations = [
        migrations.AddField(
            model_name="blob",
            name="available",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="upload",
            name="repository_name",
            field=models.CharField(db_index=True, default="", max_length=255),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="upload",
            name="organization",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.organization",
            ),
        ),
        migrations.RunPython(name_repositories, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="upload",
            name="organization",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.organization",
            ),
        ),
        migrations.RemoveField(
            model_name="upload",
            name="repository",
        ),
    ]
