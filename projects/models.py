"""Who owns what: projects, their members and the papers in them. The ground floor: nothing here imports
media_pipeline, which builds on these models.

Models hold fields, constraints and small properties only. Rows are created by projects.services (projects,
members, papers of each kind) and edited in the admin's project and paper forms; a paper's curation status
changes only through media_pipeline.curation and media_pipeline.publishing, and its pipeline fields
(narration, authors, abstract) only through the stages that make them.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from projects.uploads import PDF_SUFFIX, UNKNOWN_SUFFIX, stored_audio_suffix, stored_text_suffix


class ImageSampler(models.TextChoices):
    """The samplers papercast offers per project; each image backend translates them into its own names."""

    EULER = "euler", "Euler"
    EULER_A = "euler_a", "Euler ancestral"
    DPMPP_2M = "dpmpp_2m", "DPM++ 2M"
    DPMPP_2M_KARRAS = "dpmpp_2m_karras", "DPM++ 2M Karras"
    DDIM = "ddim", "DDIM"


# The categories YouTube lets a video be uploaded to (videoCategories.list, assignable ones); other ids are refused.
YOUTUBE_CATEGORIES = [
    ("1", "Film & Animation"),
    ("2", "Autos & Vehicles"),
    ("10", "Music"),
    ("15", "Pets & Animals"),
    ("17", "Sports"),
    ("19", "Travel & Events"),
    ("20", "Gaming"),
    ("22", "People & Blogs"),
    ("23", "Comedy"),
    ("24", "Entertainment"),
    ("25", "News & Politics"),
    ("26", "Howto & Style"),
    ("27", "Education"),
    ("28", "Science & Technology"),
    ("29", "Nonprofits & Activism"),
]
# A BCP-47 language tag as YouTube takes them: a language, then optional script, region or variant subtags
# ("en", "en-GB", "zh-Hant", "es-419", "sr-Latn-RS").
LANGUAGE_TAG = RegexValidator(
    r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|\d{3}))?(-(?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*$",
    "A language is a BCP-47 tag such as en, en-GB, pt-BR, zh-Hant or es-419.",
)


class ImageLayout(models.TextChoices):
    """Where an image server's picture goes in a scene (the built-in slides and title cards ignore this)."""

    BESIDE = "beside", "Beside the scene's key points (title and section on the slide)"
    FULL = "full", "The whole frame"


class Role(models.TextChoices):
    """A member's role. owner > editor > viewer; owners manage members, editors change content."""

    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


def default_max_scene_seconds() -> float:
    return float(settings.PAPERCAST_DEFAULT_MAX_SCENE_SECONDS)


def music_upload_to(instance: Project, filename: str) -> str:
    # Only an allowlisted audio suffix is ever stored (projects.uploads): /media/ serves from our origin.
    return f"projects/{instance.pk or 0}/sources/music-{uuid.uuid4().hex}{stored_audio_suffix(filename)}"


class Project(models.Model):
    """A team's workspace, with the pipeline defaults its papers use."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    whisper_model = models.CharField(
        max_length=500,
        blank=True,
        help_text="Whisper model: the name of one the operator installed for projects; empty uses the server default.",
    )
    llm_model = models.CharField(max_length=200, blank=True, help_text="LLM model; empty uses the server default.")
    image_style = models.CharField(
        max_length=500,
        default="clean editorial illustration, soft light, muted colours",
        help_text="Visual style appended to every image prompt.",
    )
    image_width = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(4096)],
        help_text="Width of generated images in pixels; 0 uses the video's. SD 1.5 works best near 768x432.",
    )
    image_height = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(4096)], help_text="Height of generated images; 0 uses the video's."
    )
    image_steps = models.PositiveSmallIntegerField(
        default=25, validators=[MinValueValidator(1), MaxValueValidator(150)], help_text="Sampling steps per image."
    )
    image_guidance = models.FloatField(
        default=7.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(30.0)],
        help_text="Classifier-free guidance scale (CFG): how closely images follow the prompt.",
    )
    image_sampler = models.CharField(
        max_length=20,
        choices=ImageSampler.choices,
        default=ImageSampler.DPMPP_2M_KARRAS,
        help_text="Sampler for image servers.",
    )
    image_layout = models.CharField(
        max_length=10,
        choices=ImageLayout.choices,
        default=ImageLayout.BESIDE,
        help_text="With an image server: the generated picture beside the scene's key points on a slide (scenes "
        "about a figure or table show it instead), or filling the frame.",
    )
    image_candidates = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(8)],
        help_text="Images generated per scene for an editor to choose from.",
    )
    video_width = models.PositiveIntegerField(
        default=1920, validators=[MinValueValidator(160), MaxValueValidator(3840)]
    )
    video_height = models.PositiveIntegerField(
        default=1080, validators=[MinValueValidator(160), MaxValueValidator(3840)]
    )
    render_mode = models.CharField(
        max_length=10,
        choices=[("still", "Still images (fast)"), ("motion", "Motion: slow zoom and pan, crossfades (30 fps)")],
        default="still",
    )
    image_fit = models.CharField(
        max_length=10,
        choices=[("cover", "Cover: fill the frame, crop the overflow"), ("blur", "Contain over a blurred copy")],
        default="cover",
        help_text="How an image whose shape differs from the video's is fitted (never stretched).",
    )
    burn_captions = models.BooleanField(default=False, help_text="Burn the captions into the picture (Shorts).")
    music = models.FileField(
        upload_to=music_upload_to, blank=True, max_length=500, help_text="Background music, ducked under the voice."
    )
    music_volume_db = models.FloatField(
        default=-20.0,
        validators=[MinValueValidator(-60.0), MaxValueValidator(0.0)],
        help_text="Music level in dB before ducking; -20 sits well under speech.",
    )
    max_scene_seconds = models.FloatField(
        default=default_max_scene_seconds,
        validators=[MinValueValidator(2.0), MaxValueValidator(120.0)],
        help_text="Longest a scene may run before a new image is shown.",
    )
    script_minutes = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="Length of the narration written from a paper (PDF or arXiv), in minutes.",
    )
    script_review = models.BooleanField(
        default=False, help_text="Narration waits until an editor approves the script written from a paper."
    )
    tts_voice = models.CharField(
        max_length=500,
        blank=True,
        help_text=(
            "Voice: the name of a piper voice the operator installed, or the speech server's voice; "
            "empty: the server default."
        ),
    )
    tts_rate = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(2.0)],
        help_text="Speaking rate: 1 is the voice's own, 1.2 is 20 % faster.",
    )
    # What the YouTube uploader is told about this project's videos (see media_pipeline.publishing).
    youtube_category_id = models.CharField(
        max_length=4, default="28", choices=YOUTUBE_CATEGORIES, help_text="The YouTube category of the videos."
    )
    youtube_privacy = models.CharField(
        max_length=10,
        choices=[("private", "Private"), ("unlisted", "Unlisted"), ("public", "Public")],
        default="private",
        help_text="Privacy status the uploader sets on new videos.",
    )
    youtube_language = models.CharField(
        max_length=35,
        blank=True,
        validators=[LANGUAGE_TAG],
        help_text="Language of title and description (BCP-47: en, en-GB, pt-BR); empty: the narration's. The "
        "audio language is always the narration's.",
    )
    youtube_tags = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated tags added to every video of the project."
    )
    youtube_made_for_kids = models.BooleanField(
        default=False, help_text="Declare the videos made for kids (YouTube's COPPA setting)."
    )
    youtube_synthetic_media = models.BooleanField(
        default=True,
        help_text=(
            "Disclose altered or synthetic content to YouTube. On by default: the narration is synthetic speech "
            "and the scene images are generated."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(video_width__gte=160, video_height__gte=160), name="project_video_size_min"
            ),
            models.CheckConstraint(
                condition=models.Q(max_scene_seconds__gte=2.0), name="project_max_scene_seconds_min"
            ),
            models.CheckConstraint(
                condition=models.Q(image_candidates__gte=1, image_candidates__lte=8),
                name="project_image_candidates_1_to_8",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def image_size(self) -> tuple[int, int]:
        """The size images are generated at: the project's image size, else the video's."""
        if self.image_width and self.image_height:
            return self.image_width, self.image_height
        return self.video_width, self.video_height

    @property
    def words_per_minute(self) -> float:
        """How many words a minute of this project's narration holds (about 150 at rate 1)."""
        return 150.0 * self.tts_rate


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user_project"),
        ]
        indexes = [models.Index(fields=["user", "project"])]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class SourceKind(models.TextChoices):
    TEXT = "text", "Text or Markdown"
    AUDIO = "audio", "Audio"
    PDF = "pdf", "PDF"
    ARXIV = "arxiv", "arXiv"


# Papers read from a document (a PDF, uploaded or fetched from arXiv) go through extract and script first.
DOCUMENT_KINDS = (SourceKind.PDF, SourceKind.ARXIV)


class CurationStatus(models.TextChoices):
    """Editorial state, separate from processing.

    draft -> in_review (sent for review); draft | in_review -> approved (approved, bound to the current
    video); approved -> in_review (approval withdrawn); approved -> published (the uploader reported the
    YouTube id). Nothing returns to draft.
    """

    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    PUBLISHED = "published", "Published"


def paper_upload_to(instance: Paper, filename: str) -> str:
    # The user's file name never reaches the storage key: it could hold anything. The suffix comes from the
    # allowlist for the paper's kind (projects.uploads), since /media/ serves these files from our origin.
    if instance.source_kind in (SourceKind.PDF, SourceKind.ARXIV):
        suffix = PDF_SUFFIX
    elif instance.source_kind == SourceKind.TEXT:
        suffix = stored_text_suffix(filename)
    elif instance.source_kind == SourceKind.AUDIO:
        suffix = stored_audio_suffix(filename)
    else:
        suffix = UNKNOWN_SUFFIX
    return f"projects/{instance.project_id}/sources/{uuid.uuid4().hex}{suffix}"


class Paper(models.Model):
    """One thing to turn into a video: a text to narrate, or narration audio that already exists."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="papers")
    title = models.CharField(max_length=300)
    source_kind = models.CharField(max_length=10, choices=SourceKind.choices)
    source_text = models.TextField(blank=True, help_text="The text to narrate, when typed in rather than uploaded.")
    source_file = models.FileField(upload_to=paper_upload_to, blank=True, max_length=500)
    source_filename = models.CharField(max_length=300, blank=True, help_text="The uploaded file's original name.")
    title_from_source = models.BooleanField(
        default=False, help_text="Nobody gave a title: the extract stage takes the one printed on the paper."
    )
    arxiv_id = models.CharField(
        max_length=64, blank=True, help_text="The arXiv identifier, e.g. 2202.08906 or hep-th/9901001v2."
    )
    authors = models.JSONField(default=list, blank=True, help_text="The paper's authors, as read from it.")
    abstract = models.TextField(blank=True, help_text="The paper's abstract, as read from it.")
    script_minutes = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="Length of the narration written from this paper; empty: the project's.",
    )
    narration_audio = models.FileField(
        blank=True, max_length=500, help_text="Narration made by the narrate stage (audio papers use their upload)."
    )
    narration_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="Fingerprint of the inputs the narration audio was made from."
    )
    narration_spans = models.JSONField(
        default=list,
        blank=True,
        help_text="Where each spoken sentence is in the narration: [{i, sentence, start, end}] in seconds.",
    )
    description = models.TextField(
        blank=True,
        max_length=4000,
        help_text="What the video is about, for its YouTube description; empty: written from the scene summaries.",
    )
    publish_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Schedule: the video is uploaded private and YouTube makes it public at this time; empty: "
        "published with the project's privacy at once.",
    )
    thumbnail_scene = models.PositiveIntegerField(
        null=True, blank=True, help_text="Scene number whose image makes the thumbnail; empty: the first."
    )
    curation_status = models.CharField(max_length=12, choices=CurationStatus.choices, default=CurationStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return self.title
