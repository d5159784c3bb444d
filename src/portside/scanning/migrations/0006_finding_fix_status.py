from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scanning", "0005_practices_version"),
    ]

    operations = [
        # Empty for the findings stored before: the next match of the scan (every sync
        # that changes the data matches every stored image again) fills them in.
        migrations.AddField(
            model_name="finding",
            name="fix_status",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="finding",
            name="fix_note",
            field=models.TextField(blank=True),
        ),
    ]
