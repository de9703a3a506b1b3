"""The uploader's protocol: claim with a lease, publish idempotently, report failures, and two uploaders
racing for one video (exactly one wins; on PostgreSQL in CI)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from media_pipeline import curation
from media_pipeline.models import UploadEvent, Video
from projects.models import CurationStatus, Paper
from tests.api.conftest import body, token_client

pytestmark = pytest.mark.django_db


def _claim(client: APIClient, video: Video, **data: Any) -> Any:
    return client.post(f"/api/v1/videos/{video.pk}/claim/", data, format="json")


def _publish(client: APIClient, video: Video, youtube_id: str, **data: Any) -> Any:
    return client.post(f"/api/v1/videos/{video.pk}/published/", {"youtube_id": youtube_id, **data}, format="json")


def _fail(client: APIClient, video: Video, reason: str, **data: Any) -> Any:
    return client.post(f"/api/v1/videos/{video.pk}/failed/", {"reason": reason, **data}, format="json")


def _expire(video: Video) -> None:
    Video.objects.filter(pk=video.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_the_uploaders_loop_lists_claims_downloads_and_publishes(
    api: dict[str, APIClient], approved_video: Video, users: dict[str, User]
) -> None:
    bob = api["bob"]
    todo = body(bob.get("/api/v1/videos/?status=approved&published=false&available=true"))
    assert [row["id"] for row in todo["results"]] == [approved_video.pk]
    claimed = _claim(bob, approved_video, seconds=600)
    assert claimed.status_code == 200
    lease = body(claimed)["lease"]
    detail = body(claimed)["video"]
    assert detail["lease"]["held"] and detail["lease"]["holder"] == "bob"
    # Held videos drop out of the uploader's to-do list.
    assert body(bob.get("/api/v1/videos/?status=approved&published=false&available=true"))["results"] == []
    mp4 = bob.get(detail["files"]["video"]["url"])
    assert mp4.status_code == 200 and mp4["Content-Type"] == "video/mp4"
    data = b"".join(mp4.streaming_content)
    assert len(data) == detail["files"]["video"]["size"] == detail["file_size"]
    import hashlib

    assert hashlib.sha256(data).hexdigest() == detail["file_sha256"]
    assert data[4:8] == b"ftyp"
    srt = bob.get(detail["files"]["srt"]["url"])
    assert b"-->" in b"".join(srt.streaming_content)

    published = _publish(bob, approved_video, "dQw4w9WgXcQ", lease=lease)
    assert published.status_code == 200
    after = body(published)
    assert (after["status"], after["youtube_id"], after["published_by"]) == ("published", "dQw4w9WgXcQ", "bob")
    assert after["lease"] == {"held": False, "holder": None, "expires_at": None}
    assert after["curation_status"] == CurationStatus.PUBLISHED
    assert Paper.objects.get(pk=approved_video.paper_id).curation_status == CurationStatus.PUBLISHED
    assert [e["kind"] for e in after["upload_events"]] == ["claimed", "published"]
    assert body(bob.get("/api/v1/videos/?published=true"))["results"][0]["id"] == approved_video.pk
    assert body(bob.get("/api/v1/videos/?status=approved&published=false"))["results"] == []
    # Editors see it on the paper page.
    page = Client()
    page.force_login(users["carol"])
    html = page.get(f"/admin/projects/paper/{approved_video.paper_id}/change/").content.decode()
    assert "Published on YouTube as" in html and "https://youtu.be/dQw4w9WgXcQ" in html


def test_publishing_is_idempotent_and_a_different_id_is_refused(
    api: dict[str, APIClient], approved_video: Video
) -> None:
    bob, alice = api["bob"], api["alice"]
    first = _publish(bob, approved_video, "abcDEF12345")
    stamp = Video.objects.get(pk=approved_video.pk).published_at
    again = _publish(alice, approved_video, "abcDEF12345")
    assert first.status_code == again.status_code == 200
    video = Video.objects.get(pk=approved_video.pk)
    assert (video.published_at, video.published_by.username) == (stamp, "bob")  # unchanged by the repeat
    other = _publish(alice, approved_video, "zzzZZZ99999")
    assert other.status_code == 409 and body(other)["code"] == "conflict"
    assert "abcDEF12345" in body(other)["detail"]
    assert Video.objects.get(pk=approved_video.pk).youtube_id == "abcDEF12345"
    assert UploadEvent.objects.filter(video=approved_video, kind="published").count() == 1
    # Published is final: no more claims.
    assert _claim(bob, approved_video).status_code == 409
    bad = _publish(bob, approved_video, "not a youtube id!")
    assert bad.status_code == 400 and "youtube_id" in body(bad)["errors"]


def test_a_lease_expires_and_the_video_can_be_claimed_again(api: dict[str, APIClient], approved_video: Video) -> None:
    bob, alice = api["bob"], api["alice"]
    first = body(_claim(bob, approved_video, seconds=60))["lease"]
    held = _claim(alice, approved_video)
    assert held.status_code == 409 and "bob" in body(held)["detail"]
    # bob renews his own lease while he uploads.
    renewed = _claim(bob, approved_video, lease=first, seconds=900)
    assert renewed.status_code == 200 and body(renewed)["lease"] == first
    _expire(approved_video)  # bob's uploader crashed: its lease runs out
    assert body(bob.get("/api/v1/videos/?available=true"))["results"][0]["id"] == approved_video.pk
    second = _claim(alice, approved_video)
    assert second.status_code == 200 and body(second)["lease"] != first
    # bob's stale lease can neither be renewed nor release alice's.
    assert _claim(bob, approved_video, lease=first).status_code == 409
    stale = _fail(bob, approved_video, "timed out", lease=first)
    assert stale.status_code == 409
    assert Video.objects.get(pk=approved_video.pk).lease_id is not None
    # alice's upload fails: the reason is kept and the video is free again.
    failed = _fail(alice, approved_video, "YouTube quota exceeded", lease=body(second)["lease"])
    assert failed.status_code == 200
    video = Video.objects.get(pk=approved_video.pk)
    assert (video.lease_id, video.upload_failures, video.last_failure) == (None, 1, "YouTube quota exceeded")
    assert body(failed)["last_failure"] == "YouTube quota exceeded"
    assert _claim(bob, approved_video).status_code == 200


def test_only_approved_videos_can_be_claimed(
    api: dict[str, APIClient], approved_video: Video, users: dict[str, User]
) -> None:
    curation.paper_return_to_review(approved_video.paper, user=users["alice"])
    refused = _claim(api["bob"], approved_video)
    assert refused.status_code == 409 and "not approved" in body(refused)["detail"]
    assert body(api["bob"].get(f"/api/v1/videos/{approved_video.pk}/"))["status"] == "unapproved"
    assert _publish(api["bob"], approved_video, "abcDEF12345").status_code == 409


def test_an_upload_that_finishes_after_approval_is_withdrawn_is_still_recorded(
    api: dict[str, APIClient], approved_video: Video, users: dict[str, User]
) -> None:
    lease = body(_claim(api["bob"], approved_video))["lease"]
    curation.paper_return_to_review(approved_video.paper, user=users["alice"])
    # The video is on YouTube whatever the editors decided meanwhile: the uploader that held it says so.
    assert _publish(api["bob"], approved_video, "abcDEF12345", lease=lease).status_code == 200
    assert Video.objects.get(pk=approved_video.pk).youtube_id == "abcDEF12345"


@pytest.mark.django_db(transaction=True)
def test_two_uploaders_claiming_at_the_same_moment_one_wins(approved_video: Video, users: dict[str, User]) -> None:
    uploaders = [token_client(users[name]) for name in ("alice", "bob", "alice", "bob", "alice", "bob")]
    barrier = threading.Barrier(len(uploaders))
    codes: list[int] = []
    errors: list[BaseException] = []

    def attempt(client: APIClient) -> None:
        try:
            barrier.wait(timeout=30)
            codes.append(_claim(client, approved_video).status_code)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(client,)) for client in uploaders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(codes) == [200] + [409] * (len(uploaders) - 1), codes
    assert UploadEvent.objects.filter(video=approved_video, kind="claimed").count() == 1
