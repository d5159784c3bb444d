from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["action", "id"],
                name="audit_action_prefix",
                opclasses=["varchar_pattern_ops", "int8_ops"],
            ),
        ),
    ]
