"""papercast's YouTube uploader: a standalone program (no Django) that publishes approved papercast videos.

It lists approved, unpublished videos through papercast's API, claims one (a lease), downloads and checks
it, uploads it to YouTube with a resumable videos.insert, adds the thumbnail, the caption track and
optionally a playlist entry, and reports `published` (or `failed`). A journal per video in the state
directory makes the upload happen once: a killed uploader resumes the same YouTube upload session.

    python -m uploader login | run | once VIDEO_ID | status
"""
