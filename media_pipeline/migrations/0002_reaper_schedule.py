"""Schedule the reaper every minute, so runs of dead workers are recovered without anyone remembering."""

from __future__ import annotations

from typing import Any

from django.db import migrations

REAPER = "media_pipeline.tasks.reap_task"


def add_schedule(apps: Any, schema_editor: Any) -> None:
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="papercast-reaper",
        defaults={"func": REAPER, "schedule_type": "I", "minutes": 1, "repeats": -1, "cluster": "default"},
    )


def remove_schedule(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(name="papercast-reaper").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("media_pipeline", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
