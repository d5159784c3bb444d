from django.db import migrations

DEFAULT = [
    ("analytics", "Analytics"),
    ("application-frameworks", "Application frameworks"),
    ("application-infrastructure", "Application infrastructure"),
    ("base-images", "Base images"),
    ("databases", "Databases"),
    ("devops-tools", "DevOps tools"),
    ("machine-learning", "Machine learning"),
    ("messaging", "Messaging"),
    ("monitoring", "Monitoring"),
    ("networking", "Networking"),
    ("operating-systems", "Operating systems"),
    ("programming-languages", "Programming languages"),
    ("security", "Security"),
    ("storage", "Storage"),
    ("web-servers", "Web servers"),
]


def create(apps, schema_editor):
    Category = apps.get_model("catalog", "Category")
    for position, (slug, name) in enumerate(DEFAULT):
        Category.objects.get_or_create(slug=slug, defaults={"name": name, "position": position})


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
