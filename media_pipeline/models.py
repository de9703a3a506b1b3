"""What the pipeline makes, and the record of each stage run.

Every output row carries the fingerprint of the inputs it was made from (sha256 over input content,
backend, model and parameters); a stage that finds an output with the current fingerprint reuses it.
Only media_pipeline.pipeline writes StageRun.status.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from projects.models import Paper


class Stage(models.TextChoices):
    """The stages, in pipeline order (see runs.STAGE_ORDER)."""

    EXTRACT = "extract", "Extract"
    SCRIPT = "script", "Script"
    NARRATE = "narrate", "Narrate"
    TRANSCRIBE = "transcribe", "Transcribe"
    CHUNK = "chunk", "Chunk"
    SUMMARIZE = "summarize", "Summarize"
    ILLUSTRATE = "illustrate", "Illustrate"
    RENDER = "render", "Render"


class RunStatus(models.TextChoices):
    """pending -> running -> succeeded | failed.

    running -> pending again when a transient error or the reaper returns it for another attempt;
    running -> failed when attempts are spent or the error is permanent. succeeded and failed are final
    for that row: a re-run is a new StageRun.
    """

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)


class StageRun(models.Model):
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="stage_runs")
    stage = models.CharField(max_length=12, choices=Stage.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    error = models.TextField(blank=True)
    input_fingerprint = models.CharField(max_length=64, blank=True)
    force = models.BooleanField(default=False, help_text="Redo the stage even if its outputs are current.")
    until_stage = models.CharField(
        max_length=12, choices=Stage.choices, blank=True, help_text="Stop the pipeline after this stage."
    )
    reused = models.BooleanField(default=False, help_text="The outputs were current; no engine was called.")
    options = models.JSONField(
        default=dict, blank=True, help_text="What this run does beyond the stage's default (e.g. scenes to regenerate)."
    )
    metrics = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    time_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Seconds the attempt may run, set by the worker that claimed it (its cluster's stage timeout).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one pipeline moves a paper at a time: a second start is refused by the database.
            models.UniqueConstraint(
                fields=["paper"],
                condition=models.Q(status__in=["pending", "running"]),
                name="stagerun_one_active_per_paper",
            ),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="stagerun_progress_max_100"),
        ]
        indexes = [
            models.Index(fields=["paper", "stage", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.stage} of paper {self.paper_id}: {self.status}"

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


def _no_upload(instance: object, filename: str) -> str:  # pragma: no cover - names are always generated
    raise RuntimeError("pipeline files are saved under generated names")


class PaperDocument(models.Model):
    """What the extract stage read from a paper's PDF: its metadata and sections, each paragraph with its pages.

    `sections` is a list of {"title", "level", "paragraphs": [{"text", "pages"}]}; a paper's current
    document is its newest.
    """

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="documents")
    input_fingerprint = models.CharField(max_length=64)
    title = models.CharField(max_length=500, blank=True)
    authors = models.JSONField(default=list, blank=True)
    abstract = models.TextField(blank=True)
    page_count = models.PositiveIntegerField(default=0)
    sections = models.JSONField(default=list, blank=True)
    arxiv_id = models.CharField(max_length=64, blank=True, help_text="The versioned arXiv id it was fetched as.")
    categories = models.JSONField(default=list, blank=True)
    objects_found = models.JSONField(
        default=list, blank=True, help_text="Text that is not prose, kept aside: [{kind, page, text}]."
    )
    warnings = models.JSONField(default=list, blank=True, help_text="What the reader could not structure.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["paper", "input_fingerprint"])]

    def __str__(self) -> str:
        return f"Document of paper {self.paper_id}: {self.title[:60]}"


class FigureKind(models.TextChoices):
    RASTER = "raster", "Figure (picture)"
    DRAWN = "drawn", "Figure (drawing)"
    TABLE = "table", "Table"


class Figure(models.Model):
    """A figure or table of the paper, cut out of its page, with its caption. Scenes about it may show it."""

    document = models.ForeignKey(PaperDocument, on_delete=models.CASCADE, related_name="figures")
    number = models.PositiveIntegerField(null=True, blank=True, help_text="3 for 'Figure 3'; empty: unnumbered.")
    kind = models.CharField(max_length=10, choices=FigureKind.choices, default=FigureKind.RASTER)
    box = models.JSONField(default=list, blank=True, help_text="[x0, y0, x1, y1] on its page, in PDF points.")
    label = models.CharField(max_length=40, blank=True)
    caption = models.TextField(blank=True)
    page = models.PositiveIntegerField()
    file = models.FileField(upload_to=_no_upload, max_length=500)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["document", "page", "id"]

    def __str__(self) -> str:
        return f"{self.label or 'Figure'} (page {self.page})"


class Script(models.Model):
    """The narration written from a paper, sentence by sentence. The paper's current script is its newest.

    A person's edits are kept on re-runs (the script stage does not replace an edited script unless forced).
    approved_at gates narration when the project asks for review.
    """

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="scripts")
    input_fingerprint = models.CharField(max_length=64)
    backend = models.CharField(max_length=40)
    model = models.CharField(max_length=200, blank=True)
    target_minutes = models.PositiveSmallIntegerField()
    words = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(
        default=0.0, help_text="How long the narration should last at the voice's pace (0: not estimated)."
    )
    chapter_titles = models.JSONField(
        default=dict, blank=True, help_text="Chapter titles the LLM proposed, by section name (else the name)."
    )
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    edited_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Script {self.pk} of paper {self.paper_id} ({self.words} words)"


class ScriptSentence(models.Model):
    """One sentence of a script, with the pages of the paper it came from and the figures it mentions."""

    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="sentences")
    index = models.PositiveIntegerField()
    section = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    pages = models.JSONField(default=list, blank=True)
    figures = models.JSONField(default=list, blank=True, help_text="Numbers of the figures the sentence mentions.")
    edited = models.BooleanField(default=False, help_text="A person wrote or changed this sentence.")

    class Meta:
        ordering = ["script", "index"]
        constraints = [models.UniqueConstraint(fields=["script", "index"], name="scriptsentence_unique_index")]

    def __str__(self) -> str:
        return self.text[:80]


class SpokenSentence(models.Model):
    """One sentence as one voice spoke it. narrate reuses these: a re-run, a resumed run or an edit of one
    sentence speaks only what is new."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="spoken_sentences")
    key = models.CharField(max_length=64, help_text="sha256 of the voice's identity and the spoken text.")
    file = models.FileField(upload_to=_no_upload, max_length=500)
    duration = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["paper", "key"], name="spokensentence_unique_key")]

    def __str__(self) -> str:
        return f"Spoken sentence {self.key[:12]} of paper {self.paper_id}"


class ArxivRecord(models.Model):
    """What papercast fetched from arXiv, kept so that the same paper is never fetched twice."""

    arxiv_id = models.CharField(max_length=64, unique=True, help_text="Versioned, e.g. 2202.08906v2.")
    base_id = models.CharField(max_length=64, db_index=True, help_text="Without the version.")
    title = models.TextField()
    authors = models.JSONField(default=list)
    abstract = models.TextField(blank=True)
    categories = models.JSONField(default=list)
    published = models.CharField(max_length=40, blank=True)
    pdf = models.FileField(upload_to=_no_upload, max_length=500, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fetched_at"]

    def __str__(self) -> str:
        return f"arXiv:{self.arxiv_id}"


class Transcription(models.Model):
    """One transcription of a paper's narration. The paper's current one is its newest."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="transcriptions")
    engine = models.CharField(max_length=40)
    model = models.CharField(max_length=500)
    language = models.CharField(max_length=16, blank=True)
    text = models.TextField(blank=True)
    duration = models.FloatField(help_text="Length of the audio in seconds.")
    audio_fingerprint = models.CharField(max_length=64, help_text="sha256 of the audio file's bytes.")
    input_fingerprint = models.CharField(max_length=64)
    pieces = models.PositiveIntegerField(default=1, help_text="Pieces the audio was split into at silences.")
    aligned_to_script = models.BooleanField(
        default=False, help_text="Words are the narration script's, with the recogniser's timings."
    )
    script_wer = models.FloatField(
        null=True, blank=True, help_text="Word error rate of the recognition against the known script (0-1)."
    )
    method = models.CharField(
        max_length=10,
        choices=[("recognise", "recognition"), ("align", "forced alignment of the known words")],
        default="recognise",
        help_text="How the words' times were found; only a recognition shows which sentences are hard to follow.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["paper", "input_fingerprint"])]

    def __str__(self) -> str:
        return f"Transcription {self.pk} of paper {self.paper_id} ({self.model})"


class Segment(models.Model):
    """A whisper segment with every field whisper returns for it."""

    transcription = models.ForeignKey(Transcription, on_delete=models.CASCADE, related_name="segments")
    index = models.PositiveIntegerField()
    start = models.FloatField()
    end = models.FloatField()
    text = models.TextField()
    tokens = models.JSONField(default=list, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    avg_logprob = models.FloatField(null=True, blank=True)
    compression_ratio = models.FloatField(null=True, blank=True)
    no_speech_prob = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    flag = models.CharField(
        max_length=300, blank=True, help_text="Why this segment looks like a hallucination (empty: it does not)."
    )
    dropped = models.BooleanField(
        default=False, help_text="Left out of the timeline (no words, no captions) because of its flag."
    )

    class Meta:
        ordering = ["transcription", "index"]
        constraints = [
            models.UniqueConstraint(fields=["transcription", "index"], name="segment_unique_index"),
            models.CheckConstraint(condition=models.Q(end__gte=models.F("start")), name="segment_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"[{self.start:.2f}-{self.end:.2f}] {self.text[:60]}"


class Word(models.Model):
    transcription = models.ForeignKey(Transcription, on_delete=models.CASCADE, related_name="words")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="words")
    index = models.PositiveIntegerField(help_text="Position in the whole transcription.")
    start = models.FloatField()
    end = models.FloatField()
    text = models.CharField(max_length=200)
    recognized = models.CharField(
        max_length=200, blank=True, help_text="What the recogniser heard, when the word was aligned to the script."
    )
    confidence = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["transcription", "index"]
        constraints = [
            models.UniqueConstraint(fields=["transcription", "index"], name="word_unique_index"),
            models.CheckConstraint(condition=models.Q(end__gte=models.F("start")), name="word_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.text} [{self.start:.2f}-{self.end:.2f}]"


class Chunk(models.Model):
    """A scene: a stretch of narration shown with one image."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="chunks")
    transcription = models.ForeignKey(Transcription, null=True, on_delete=models.SET_NULL, related_name="chunks")
    index = models.PositiveIntegerField()
    start = models.FloatField()
    end = models.FloatField()
    text = models.TextField()
    input_fingerprint = models.CharField(max_length=64)
    image_error = models.TextField(blank=True, help_text="Why the latest attempt to illustrate this scene failed.")

    class Meta:
        ordering = ["paper", "index"]
        constraints = [
            models.UniqueConstraint(fields=["paper", "index"], name="chunk_unique_index"),
            models.CheckConstraint(condition=models.Q(end__gte=models.F("start")), name="chunk_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"Scene {self.index + 1} [{self.start:.2f}-{self.end:.2f}]"


class Summary(models.Model):
    """A scene's core idea and image prompt. A person's edit (edited_by_human) survives re-runs."""

    chunk = models.OneToOneField(Chunk, on_delete=models.CASCADE, related_name="summary")
    summary = models.TextField()
    image_prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    key_phrases = models.JSONField(
        default=list, blank=True, help_text="One to three short phrases the scene's slide shows."
    )
    backend = models.CharField(max_length=40)
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=40)
    input_fingerprint = models.CharField(max_length=64)
    edited_by_human = models.BooleanField(default=False)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    edited_fields = models.JSONField(
        default=list, blank=True, help_text="Which fields a person wrote (summary, image_prompt)."
    )
    edited_at = models.DateTimeField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "summaries"

    def __str__(self) -> str:
        return self.summary[:80]


# Image.backend of a candidate that is one of the paper's own figures, not a generated picture.
FIGURE_BACKEND = "figure"


class Image(models.Model):
    """A candidate image for a scene; exactly one per scene is selected."""

    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=_no_upload, max_length=500)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    seed = models.BigIntegerField()
    backend = models.CharField(max_length=40)
    model = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    selected = models.BooleanField(default=False)
    selected_by_human = models.BooleanField(default=False)
    selected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    input_fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["chunk", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["chunk"], condition=models.Q(selected=True), name="image_one_selected_per_chunk"
            ),
        ]
        indexes = [models.Index(fields=["chunk", "input_fingerprint"]), models.Index(fields=["sha256"])]

    def __str__(self) -> str:
        return f"Image {self.pk} for {self.chunk}"


class Video(models.Model):
    """A rendered video with its captions. The paper's current video is its newest."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="videos")
    file = models.FileField(upload_to=_no_upload, max_length=500)
    srt = models.FileField(upload_to=_no_upload, max_length=500)
    vtt = models.FileField(upload_to=_no_upload, max_length=500, blank=True)
    thumbnail = models.FileField(upload_to=_no_upload, max_length=500, blank=True)
    chapters = models.JSONField(default=list, blank=True)
    duration = models.FloatField()
    width = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    height = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    settings_fingerprint = models.CharField(max_length=64)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(
        null=True, blank=True, help_text="When an editor approved this video for publishing (empty: not approved)."
    )
    file_size = models.PositiveBigIntegerField(default=0, help_text="Bytes of the MP4.")
    file_sha256 = models.CharField(max_length=64, blank=True, help_text="sha256 of the MP4, for the uploader to check.")
    # Publishing (see media_pipeline.publishing): an uploader leases the video, uploads it, reports back.
    youtube_id = models.CharField(max_length=64, blank=True, help_text="The YouTube video id, once published.")
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_id = models.UUIDField(null=True, blank=True, help_text="The uploader lease that holds the video now.")
    lease_holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    upload_failures = models.PositiveIntegerField(default=0)
    last_failure = models.TextField(blank=True, help_text="The reason the last upload attempt failed.")
    last_failure_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["paper", "settings_fingerprint"]),
            models.Index(fields=["approved_at", "published_at"]),
        ]
        constraints = [
            # A YouTube id names one video: the same upload can never be recorded for two.
            models.UniqueConstraint(
                fields=["youtube_id"], condition=~models.Q(youtube_id=""), name="video_unique_youtube_id"
            ),
        ]

    def __str__(self) -> str:
        return f"Video {self.pk} of paper {self.paper_id} ({self.width}x{self.height}, {self.duration:.1f} s)"


class UploadEventKind(models.TextChoices):
    CLAIMED = "claimed", "Claimed"
    RENEWED = "renewed", "Lease renewed"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"


class UploadEvent(models.Model):
    """What uploaders did with a video, in order: the publishing history an editor can read."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="upload_events")
    kind = models.CharField(max_length=10, choices=UploadEventKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_id = models.UUIDField(null=True, blank=True)
    detail = models.TextField(blank=True, help_text="The YouTube id, or the reason of a failure.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["video", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} video {self.video_id} by {self.user}"


class PromptTemplate(models.Model):
    """A project's instructions for the LLM that writes scene summaries and image prompts.

    Versions are never edited in place: a change is a new row with the next version number, so every
    Summary can say exactly which instructions produced it. The newest version is the one in use.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="prompt_templates")
    version = models.PositiveIntegerField()
    system_prompt = models.TextField()
    scene_prompt = models.TextField(
        help_text="Placeholders: {title}, {scene_number}, {scene_count}, {previous}, {scene}, {next}, {style}."
    )
    negative_prompt = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="prompttemplate_unique_version")]

    def __str__(self) -> str:
        return f"{self.project} prompts v{self.version}"


class ServerSlot(models.Model):
    """One of N concurrent requests a server accepts, leased by a worker (see media_pipeline.slots)."""

    server = models.CharField(max_length=300)
    slot = models.PositiveIntegerField()
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["server", "slot"], name="serverslot_unique")]

    def __str__(self) -> str:
        return f"{self.server} #{self.slot}: {self.holder or 'free'}"


class VoicePace(models.Model):
    """A voice's measured speed (media_pipeline.pacing): measured once per voice, so every script for that
    voice is sized the same on every machine."""

    identity = models.CharField(max_length=500, unique=True, help_text="The voice's identity (backend, voice, rate).")
    seconds_per_unit = models.FloatField()
    words_per_minute = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.identity}: {self.words_per_minute:.0f} words a minute"
