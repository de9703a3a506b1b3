# Projects made before this keep their generated pictures filling the frame (their images stay current);
# new projects put them beside the scene's key points.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0006_project_voice_and_whisper_model_are_installed_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="image_layout",
            field=models.CharField(
                choices=[
                    ("beside", "Beside the scene's key points (title and section on the slide)"),
                    ("full", "The whole frame"),
                ],
                default="full",
                help_text="With an image server: the generated picture beside the scene's key points on a slide (scenes about a figure or table show it instead), or filling the frame.",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="project",
            name="image_layout",
            field=models.CharField(
                choices=[
                    ("beside", "Beside the scene's key points (title and section on the slide)"),
                    ("full", "The whole frame"),
                ],
                default="beside",
                help_text="With an image server: the generated picture beside the scene's key points on a slide (scenes about a figure or table show it instead), or filling the frame.",
                max_length=10,
            ),
        ),
    ]
