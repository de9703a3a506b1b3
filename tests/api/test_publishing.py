"""The uploader's protocol: claim with a lease, publish idempotently, report failures, and two uploaders
racing for one video (exactly one wins; on PostgreSQL in CI)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
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
    lease = body(_claim(bob, approved_video))["lease"]
    first = _publish(bob, approved_video, "abcDEF12345", lease=lease)
    stamp = Video.objects.get(pk=approved_video.pk).published_at
    # A repeat is 200 whoever sends it, with or without the (now released) lease.
    again = _publish(alice, approved_video, "abcDEF12345")
    repeat = _publish(bob, approved_video, "abcDEF12345", lease=lease)
    assert first.status_code == again.status_code == repeat.status_code == 200
    video = Video.objects.get(pk=approved_video.pk)
    assert (video.published_at, video.published_by.username) == (stamp, "bob")  # unchanged by the repeat
    other = _publish(alice, approved_video, "zzzZZZ99999")
    assert other.status_code == 409 and body(other)["code"] == "already_published"
    assert "abcDEF12345" in body(other)["detail"]
    assert Video.objects.get(pk=approved_video.pk).youtube_id == "abcDEF12345"
    assert UploadEvent.objects.filter(video=approved_video, kind="published").count() == 1
    # Published is final: no more claims.
    refused = _claim(bob, approved_video)
    assert refused.status_code == 409 and body(refused)["code"] == "already_published"
    for wrong in ("not a youtube id!", "dQw4w9WgXc", "dQw4w9WgXcQQ", "https://youtu.be/dQw4w9WgXcQ"):
        bad = _publish(bob, approved_video, wrong)  # a YouTube id is 11 characters of its own alphabet
        assert bad.status_code == 400 and "youtube_id" in body(bad)["errors"], wrong


def test_a_lease_expires_and_the_video_can_be_claimed_again(api: dict[str, APIClient], approved_video: Video) -> None:
    bob, alice = api["bob"], api["alice"]
    first = body(_claim(bob, approved_video, seconds=60))["lease"]
    held = _claim(alice, approved_video)
    assert held.status_code == 409 and "bob" in body(held)["detail"]
    expires = Video.objects.get(pk=approved_video.pk).lease_expires_at
    assert (body(held)["code"], body(held)["holder"]) == ("lease_held", "bob")
    assert datetime.fromisoformat(body(held)["expires_at"]) == expires
    # bob renews his own lease while he uploads.
    renewed = _claim(bob, approved_video, lease=first, seconds=900)
    assert renewed.status_code == 200 and body(renewed)["lease"] == first
    _expire(approved_video)  # bob's uploader crashed: its lease runs out
    assert body(bob.get("/api/v1/videos/?available=true"))["results"][0]["id"] == approved_video.pk
    second = _claim(alice, approved_video)
    assert second.status_code == 200 and body(second)["lease"] != first
    # bob's stale lease can neither be renewed nor release alice's.
    renew = _claim(bob, approved_video, lease=first)
    assert renew.status_code == 409 and body(renew)["code"] == "not_lease_holder"
    stale = _fail(bob, approved_video, "timed out", lease=first)
    assert stale.status_code == 409 and body(stale)["code"] == "not_lease_holder"
    assert body(stale)["holder"] == "alice"
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
    assert body(refused)["code"] == "not_approved"
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


def test_only_the_lease_holder_publishes(api: dict[str, APIClient], approved_video: Video) -> None:
    bob, alice = api["bob"], api["alice"]
    lease = body(_claim(bob, approved_video))["lease"]
    # alice never claimed it: neither without a lease nor with a made-up one does she wipe bob's.
    for lease_named in ({}, {"lease": str(uuid.uuid4())}):
        attempt = _publish(alice, approved_video, "aliceUpld01", **lease_named)
        assert attempt.status_code == 409
        assert (body(attempt)["code"], body(attempt)["holder"]) == ("not_lease_holder", "bob")
    video = Video.objects.get(pk=approved_video.pk)
    assert (video.youtube_id, str(video.lease_id), video.lease_holder.username) == ("", lease, "bob")
    # A claim named by a lease is the lease's, not its account's: bob's own made-up lease fails too.
    assert _publish(bob, approved_video, "bobUpload12", lease=str(uuid.uuid4())).status_code == 409
    assert _publish(bob, approved_video, "bobUpload12", lease=lease).status_code == 200
    assert UploadEvent.objects.filter(video=approved_video, kind="published").count() == 1


def test_an_uploader_that_does_not_name_its_lease_publishes_with_its_accounts(
    api: dict[str, APIClient], approved_video: Video
) -> None:
    _claim(api["bob"], approved_video)  # an older uploader: it claims, then reports without the lease
    assert _publish(api["bob"], approved_video, "bobUpload12").status_code == 200
    assert Video.objects.get(pk=approved_video.pk).published_by.username == "bob"


def test_an_expired_lease_does_not_publish(api: dict[str, APIClient], approved_video: Video) -> None:
    bob, alice = api["bob"], api["alice"]
    lease = body(_claim(bob, approved_video))["lease"]
    _expire(approved_video)
    stale = _publish(bob, approved_video, "bobUpload12", lease=lease)
    assert stale.status_code == 409 and body(stale)["code"] == "lease_expired"
    assert _publish(bob, approved_video, "bobUpload12").status_code == 409  # nor bob without naming it
    assert Video.objects.get(pk=approved_video.pk).youtube_id == ""
    # Nobody took it meanwhile: bob claims it again and reports with the new lease.
    again = body(_claim(bob, approved_video))["lease"]
    assert again != lease
    assert _publish(bob, approved_video, "bobUpload12", lease=again).status_code == 200
    # Once someone else has claimed an expired lease's video, that lease is simply not the holder's.
    other = _another_approved_video(approved_video)
    old = body(_claim(bob, other))["lease"]
    _expire(other)
    assert _claim(alice, other).status_code == 200
    late = _publish(bob, other, "bobUpload45", lease=old)
    assert late.status_code == 409 and body(late)["code"] == "not_lease_holder"
    assert Video.objects.get(pk=other.pk).lease_holder.username == "alice"


def test_an_uploader_that_lost_its_lease_id_releases_its_claim_with_failed(
    api: dict[str, APIClient], approved_video: Video
) -> None:
    bob, alice = api["bob"], api["alice"]
    # Nobody holds it: there is no claim to fail.
    nothing = _fail(bob, approved_video, "crashed")
    assert nothing.status_code == 409 and body(nothing)["code"] == "not_lease_holder"
    _claim(bob, approved_video)  # bob's uploader crashes and forgets its lease id
    refused = _fail(alice, approved_video, "not mine")
    assert refused.status_code == 409 and body(refused)["code"] == "not_lease_holder"
    assert Video.objects.get(pk=approved_video.pk).lease_holder.username == "bob"
    released = _fail(bob, approved_video, "restarted; lost the lease id")
    assert released.status_code == 200 and body(released)["lease"]["held"] is False
    assert body(released)["last_failure"] == "restarted; lost the lease id"
    assert _claim(alice, approved_video).status_code == 200


def test_every_conflict_and_missing_object_says_why(api: dict[str, APIClient], approved_video: Video) -> None:
    bob = api["bob"]
    missing = bob.get("/api/v1/videos/999999/")
    assert missing.status_code == 404 and body(missing)["code"] == "not_found"
    assert body(bob.post("/api/v1/videos/999999/claim/", {}, format="json"))["code"] == "not_found"
    assert body(api["mallory"].get(f"/api/v1/videos/{approved_video.pk}/"))["code"] == "not_found"
    lease = body(_claim(bob, approved_video))["lease"]
    _expire(approved_video)
    renew = _claim(bob, approved_video, lease=lease)
    assert renew.status_code == 409 and body(renew)["code"] == "lease_expired"
    lease = body(_claim(bob, approved_video))["lease"]
    assert _publish(bob, approved_video, "abcDEF12345", lease=lease).status_code == 200
    other = _another_approved_video(approved_video)
    taken = _publish(bob, other, "abcDEF12345", lease=body(_claim(bob, other))["lease"])
    assert taken.status_code == 409 and body(taken)["code"] == "youtube_id_taken"
    failed = _fail(bob, approved_video, "late")
    assert failed.status_code == 409 and body(failed)["code"] == "already_published"


def _other(fingerprint: str) -> str:
    """Another fingerprint of the same 64 characters (PostgreSQL holds the column to its length)."""
    return fingerprint[:-1] + ("1" if fingerprint.endswith("0") else "0")


def _another_approved_video(video: Video) -> Video:
    """Another approved, unclaimed video of the same paper, sharing the files (claims and reports never read them)."""
    return Video.objects.create(
        paper_id=video.paper_id, file=video.file.name, srt=video.srt.name, duration=video.duration,
        width=video.width, height=video.height, settings_fingerprint=_other(video.settings_fingerprint),
        approved_by=video.approved_by, approved_at=video.approved_at,
    )  # fmt: skip


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
