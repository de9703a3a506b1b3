"""The official google-api-python-client, unpatched, against tests/fakes/youtube_server.py.

These pin what an uploader can rely on: the discovery-built client reaches the fake through
client_options api_endpoint, resumable uploads go chunk by chunk, a failed chunk is recovered by a status
query and a resend, a saved session URI resumes in a new request object, and errors read as YouTube's do.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import random
import re
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError, ResumableUploadError
from googleapiclient.http import HttpRequest, MediaIoBaseUpload, build_http

from tests.fakes.youtube_server import FakeYouTube, running_youtube

CHUNK = 256 * 1024  # the client's chunks must be multiples of this
PAYLOAD = random.Random(7).randbytes(1_000_003)  # four chunks, the last one short
SHA = hashlib.sha256(PAYLOAD).hexdigest()
METADATA = {
    "snippet": {
        "title": "Bees: a narrated paper",
        "description": "How bees decide where to live.",
        "tags": ["bees", "papercast"],
        "categoryId": "27",
        "defaultLanguage": "en",
        "defaultAudioLanguage": "en",
    },
    "status": {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": False, "containsSyntheticMedia": True},
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)
VTT = b"WEBVTT\r\n\n00:00.000 --> 00:02.000\nBees vote.\n\n--not a boundary\n"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYouTube]:
    fake = FakeYouTube()
    with running_youtube(fake):
        # The client's media URLs keep the discovery document's https scheme, so trust the fake's CA;
        # httplib2 reads this default whenever an Http() is made (build() makes one).
        monkeypatch.setattr(httplib2, "CA_CERTS", fake.ca_certs)
        yield fake


def youtube_for(fake: FakeYouTube, token: str | None = None) -> Any:
    return build(
        "youtube",
        "v3",
        credentials=Credentials(token=token or fake.channel_token),
        client_options={"api_endpoint": fake.api_endpoint},
        static_discovery=True,
    )


@pytest.fixture
def youtube(fake: FakeYouTube) -> Any:
    return youtube_for(fake)


def insert(youtube: Any, payload: bytes = PAYLOAD, body: dict[str, Any] | None = None) -> HttpRequest:
    media = MediaIoBaseUpload(io.BytesIO(payload), mimetype="video/mp4", chunksize=CHUNK, resumable=True)
    return youtube.videos().insert(part="snippet,status", body=body or METADATA, media_body=media)


def finish(request: HttpRequest, attempts: int = 5) -> tuple[dict[str, Any], list[Exception]]:
    """A caller's loop: next_chunk until done; on a failure call it again, which asks the server first."""
    response, failures = None, []
    while response is None:
        try:
            _, response = request.next_chunk()
        except (HttpError, OSError, httplib2.HttpLib2Error) as error:
            failures.append(error)
            if len(failures) >= attempts:
                raise
    return response, failures


def chunk_ranges(fake: FakeYouTube) -> list[str]:
    return [r["headers"].get("content-range", "") for r in fake.requests if r["method"] == "PUT"]


def test_resumable_upload_in_small_chunks_completes(fake: FakeYouTube, youtube: Any) -> None:
    request = insert(youtube)
    progress = []
    response = None
    while response is None:
        status, response = request.next_chunk()
        if status:
            progress.append(status.resumable_progress)
    assert progress == [CHUNK, 2 * CHUNK, 3 * CHUNK]

    video_id = response["id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{11}", video_id)
    assert response["kind"] == "youtube#video"
    assert response["status"]["uploadStatus"] == "uploaded"
    assert response["status"]["privacyStatus"] == "unlisted"
    assert response["status"]["containsSyntheticMedia"] is True
    assert response["snippet"]["title"] == METADATA["snippet"]["title"]
    assert response["snippet"]["tags"] == ["bees", "papercast"]
    stored = fake.videos[video_id]
    assert stored["bytes"] == len(PAYLOAD)
    assert stored["sha256"] == SHA
    assert fake.inserts_started == 1
    assert len(fake.sessions) == 1
    assert fake.sessions[fake.session_for(video_id) or ""]["received"] == PAYLOAD

    start = fake.requests[0]
    assert (start["method"], start["path"]) == ("POST", "/upload/youtube/v3/videos")
    assert start["query"]["uploadType"] == "resumable"
    assert start["query"]["part"] == "snippet,status"
    assert start["headers"]["x-upload-content-length"] == str(len(PAYLOAD))
    assert start["headers"]["x-upload-content-type"] == "video/mp4"
    assert start["headers"]["authorization"] == "Bearer test-token"
    assert chunk_ranges(fake) == [
        "bytes 0-262143/1000003",
        "bytes 262144-524287/1000003",
        "bytes 524288-786431/1000003",
        "bytes 786432-1000002/1000003",
    ]
    assert request.resumable_uri.startswith(fake.api_endpoint + "upload/youtube/v3/videos?uploadType=resumable")

    listed = youtube.videos().list(part="snippet,status", id=video_id).execute()
    assert [item["id"] for item in listed["items"]] == [video_id]
    assert listed["items"][0]["status"]["uploadStatus"] == "processed"
    assert fake.requests[-1]["path"] == "/youtube/v3/videos"


def test_a_503_mid_upload_is_recovered_by_the_callers_loop(fake: FakeYouTube, youtube: Any) -> None:
    request = insert(youtube)
    request.next_chunk()
    fake.script = ["503"]

    response, failures = finish(request)

    assert [type(f) for f in failures] == [HttpError]
    failure = failures[0]
    assert isinstance(failure, HttpError)
    assert failure.status_code == 503
    assert failure.error_details[0]["reason"] == "backendError"
    assert fake.videos[response["id"]]["sha256"] == SHA
    assert fake.inserts_started == 1
    assert len(fake.sessions) == 1
    # After the error the client asked where the server stood, then resent the chunk that failed.
    assert chunk_ranges(fake)[1:4] == ["bytes 262144-524287/1000003", "bytes */1000003", "bytes 262144-524287/1000003"]


def test_next_chunk_num_retries_resends_a_spent_stream_slice(fake: FakeYouTube, youtube: Any) -> None:
    """google-api-python-client 2.202.0 retries a 5xx chunk with the same, already read, _StreamSlice: the
    resend carries no bytes under a non-zero Content-Length, which YouTube's front end answers with a 408
    once it tires of waiting. So `next_chunk(num_retries=...)` does not survive a 503 for a
    MediaIoBaseUpload or MediaFileUpload; a caller's loop (a plain next_chunk again) does."""
    fake.body_timeout = 0.2
    request = insert(youtube)
    request.next_chunk()
    fake.script = ["503"]

    with pytest.raises(HttpError) as caught:
        request.next_chunk(num_retries=3)
    assert caught.value.status_code == 408

    response, failures = finish(request)
    assert failures == []
    assert fake.videos[response["id"]]["sha256"] == SHA
    assert fake.inserts_started == 1


def test_a_dropped_chunk_is_recovered_by_the_callers_loop(fake: FakeYouTube, youtube: Any) -> None:
    """The connection is cut without an answer; over TLS httplib2 takes that for a stale connection and
    resends once by itself (the spent slice again, so a 408), then the caller's loop resumes."""
    fake.body_timeout = 0.2
    request = insert(youtube)
    request.next_chunk()
    fake.script = ["drop"]

    response, failures = finish(request)

    assert len(failures) == 1
    assert fake.videos[response["id"]]["sha256"] == SHA
    assert fake.inserts_started == 1
    assert "bytes */1000003" in chunk_ranges(fake)


def test_partial_receipt_continues_from_the_servers_range(fake: FakeYouTube, youtube: Any) -> None:
    request = insert(youtube)
    request.next_chunk()
    fake.script = ["partial"]  # the server keeps only half of the next chunk

    response, failures = finish(request)

    assert failures == []
    assert fake.videos[response["id"]]["sha256"] == SHA
    ranges = chunk_ranges(fake)
    assert ranges[1] == "bytes 262144-524287/1000003"
    assert ranges[2] == f"bytes {CHUNK + CHUNK // 2}-{CHUNK + CHUNK // 2 + CHUNK - 1}/1000003"


def test_a_saved_session_resumes_in_a_new_request_object(fake: FakeYouTube, youtube: Any) -> None:
    first = insert(youtube)
    first.next_chunk()
    first.next_chunk()
    saved = first.resumable_uri  # what an uploader persists before going on

    # Later (a new process, say): a new request over the same file, pointed at the saved session and marked
    # as having failed, so its first next_chunk asks the server how far it got.
    second = insert(youtube_for(fake))
    second.resumable_uri = saved
    second._in_error_state = True
    response, failures = finish(second)

    assert failures == []
    assert fake.inserts_started == 1
    assert len(fake.sessions) == 1
    assert fake.videos[response["id"]]["sha256"] == SHA
    assert chunk_ranges(fake)[2:] == [
        "bytes */1000003",
        "bytes 524288-786431/1000003",
        "bytes 786432-1000002/1000003",
    ]


def test_a_saved_session_resumes_with_public_attributes_only(fake: FakeYouTube, youtube: Any) -> None:
    first = insert(youtube)
    first.next_chunk()
    saved = first.resumable_uri

    second = insert(youtube_for(fake))
    # The status query by hand, through the request's own authorised http.
    answer, _ = second.http.request(
        saved, "PUT", headers={"Content-Range": f"bytes */{len(PAYLOAD)}", "Content-Length": "0"}
    )
    assert answer.status == 308
    assert answer["range"] == f"bytes=0-{CHUNK - 1}"
    second.resumable_uri = saved
    second.resumable_progress = int(answer["range"].split("-")[1]) + 1
    response, failures = finish(second)

    assert failures == []
    assert fake.inserts_started == 1
    assert fake.videos[response["id"]]["sha256"] == SHA


def test_resuming_a_finished_session_returns_the_same_video(fake: FakeYouTube, youtube: Any) -> None:
    """An uploader that died after the last chunk but before recording the id gets it back, no second video."""
    first = insert(youtube)
    done, _ = finish(first)

    again = insert(youtube_for(fake))
    again.resumable_uri = first.resumable_uri
    again._in_error_state = True
    status, response = again.next_chunk()

    assert status is None
    assert response["id"] == done["id"]
    assert len(fake.videos) == 1
    assert fake.inserts_started == 1


def test_an_uploader_killed_while_waiting_for_an_answer_resumes(fake: FakeYouTube) -> None:
    """chunk_delay holds the answer after the bytes are kept; a client that gives up (here: a timeout) finds
    them kept when it resumes. Also the explicit-http way to trust the fake."""
    http = build_http()
    http.ca_certs = fake.ca_certs
    http.timeout = 0.3
    youtube = build(
        "youtube",
        "v3",
        http=google_auth_httplib2.AuthorizedHttp(Credentials(token="test-token"), http=http),
        client_options={"api_endpoint": fake.api_endpoint},
        static_discovery=True,
    )
    fake.chunk_delay = 1.0
    first = insert(youtube)
    with pytest.raises(TimeoutError):
        first.next_chunk()
    session = next(iter(fake.sessions.values()))
    assert len(session["received"]) == CHUNK

    fake.chunk_delay = 0.0
    second = insert(youtube_for(fake))
    second.resumable_uri = first.resumable_uri
    second._in_error_state = True
    response, failures = finish(second)
    assert failures == []
    assert fake.inserts_started == 1
    assert fake.videos[response["id"]]["sha256"] == SHA


@pytest.mark.parametrize(
    ("fault", "code", "domain"),
    [("quotaExceeded", 403, "youtube.quota"), ("uploadLimitExceeded", 400, "youtube.video")],
)
def test_insert_refusals_read_like_youtubes(
    fake: FakeYouTube, youtube: Any, fault: str, code: int, domain: str
) -> None:
    fake.script = [fault]
    request = insert(youtube)
    with pytest.raises(HttpError) as caught:
        request.next_chunk()

    error = caught.value
    assert isinstance(error, ResumableUploadError)
    assert error.status_code == code
    assert error.error_details == [{"message": error.error_details[0]["message"], "domain": domain, "reason": fault}]
    if fault == "quotaExceeded":
        assert "exceeded your" in error.reason
        assert "quota" in error.reason
    assert json.loads(error.content)["error"]["code"] == code
    assert fake.inserts_started == 0
    assert fake.sessions == {}
    # The fault was used up: the next attempt goes through.
    response, _ = finish(insert(youtube))
    assert response["id"] in fake.videos
    assert fake.inserts_started == 1


def future(days: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("snippet", "status", "reason"),
    [
        ({"description": "no title"}, {}, "invalidTitle"),
        ({"title": "x" * 101}, {}, "invalidTitle"),
        ({"title": "a <b> title"}, {}, "invalidTitle"),
        ({"title": "ok", "description": "é" * 2501}, {}, "invalidDescription"),
        ({"title": "ok", "categoryId": "999"}, {}, "invalidCategoryId"),
        ({"title": "ok"}, {"privacyStatus": "public", "publishAt": future()}, "invalidPublishAt"),
        ({"title": "ok"}, {"privacyStatus": "private", "publishAt": "2001-01-01T00:00:00Z"}, "invalidPublishAt"),
    ],
)
def test_metadata_is_checked_when_the_session_starts(
    fake: FakeYouTube, youtube: Any, snippet: dict[str, Any], status: dict[str, Any], reason: str
) -> None:
    request = insert(youtube, body={"snippet": snippet, "status": status})
    with pytest.raises(HttpError) as caught:
        request.next_chunk()
    assert caught.value.status_code == 400
    assert caught.value.error_details[0]["reason"] == reason
    assert fake.sessions == {}


def test_a_scheduled_private_video_and_the_boundary_sizes_are_accepted(fake: FakeYouTube, youtube: Any) -> None:
    body = {
        "snippet": {"title": "x" * 100, "description": "é" * 2500},
        "status": {"privacyStatus": "private", "publishAt": future()},
    }
    response, _ = finish(insert(youtube, payload=b"tiny video", body=body))
    assert response["status"]["publishAt"] == body["status"]["publishAt"]
    assert fake.videos[response["id"]]["bytes"] == len(b"tiny video")


def test_a_multipart_insert_is_accepted(fake: FakeYouTube, youtube: Any) -> None:
    media = MediaIoBaseUpload(io.BytesIO(PAYLOAD[:5000]), mimetype="video/mp4", resumable=False)
    response = youtube.videos().insert(part="snippet,status", body=METADATA, media_body=media).execute()
    assert fake.requests[-1]["query"]["uploadType"] == "multipart"
    assert fake.videos[response["id"]]["sha256"] == hashlib.sha256(PAYLOAD[:5000]).hexdigest()
    assert fake.inserts_started == 1


def test_thumbnails_set_simple_and_resumable(fake: FakeYouTube, youtube: Any) -> None:
    video_id = finish(insert(youtube, payload=b"v"))[0]["id"]

    simple = MediaIoBaseUpload(io.BytesIO(PNG), mimetype="image/png")
    answer = youtube.thumbnails().set(videoId=video_id, media_body=simple).execute()
    assert answer["kind"] == "youtube#thumbnailSetResponse"
    assert answer["items"][0]["default"]["url"]
    assert fake.thumbnails[video_id] == PNG
    assert fake.requests[-1]["query"]["uploadType"] == "media"

    resumable = MediaIoBaseUpload(io.BytesIO(JPEG), mimetype="image/jpeg", chunksize=CHUNK, resumable=True)
    answer = youtube.thumbnails().set(videoId=video_id, media_body=resumable).execute()
    assert answer["kind"] == "youtube#thumbnailSetResponse"
    assert fake.thumbnails[video_id] == JPEG
    assert fake.inserts_started == 1  # thumbnails are not inserts


def test_thumbnail_refusals(fake: FakeYouTube, youtube: Any) -> None:
    video_id = finish(insert(youtube, payload=b"v"))[0]["id"]

    def set_thumbnail(data: bytes, mimetype: str = "image/png", video: str = video_id) -> HttpError:
        media = MediaIoBaseUpload(io.BytesIO(data), mimetype=mimetype)
        with pytest.raises(HttpError) as caught:
            youtube.thumbnails().set(videoId=video, media_body=media).execute()
        return caught.value

    fake.script = ["thumbnail_forbidden"]
    forbidden = set_thumbnail(PNG)
    assert forbidden.status_code == 403
    assert forbidden.error_details[0]["reason"] == "forbidden"
    assert "permissions to upload and set custom video thumbnails" in forbidden.reason
    assert set_thumbnail(b"GIF89a...", "image/jpeg").error_details[0]["reason"] == "invalidImage"
    assert set_thumbnail(PNG + bytes(2 * 1024 * 1024)).status_code == 413
    assert set_thumbnail(PNG, video="nosuchvideo").error_details[0]["reason"] == "videoNotFound"
    assert fake.thumbnails == {}


def test_captions_insert_multipart_and_resumable(fake: FakeYouTube, youtube: Any) -> None:
    video_id = finish(insert(youtube, payload=b"v"))[0]["id"]
    snippet = {"videoId": video_id, "language": "en", "name": "English", "isDraft": False}

    media = MediaIoBaseUpload(io.BytesIO(VTT), mimetype="text/vtt")
    caption = youtube.captions().insert(part="snippet", body={"snippet": snippet}, media_body=media).execute()
    assert caption["kind"] == "youtube#caption"
    assert caption["snippet"]["language"] == "en"
    assert fake.requests[-1]["query"]["uploadType"] == "multipart"

    german = {**snippet, "language": "de", "name": "Deutsch", "isDraft": True}
    media = MediaIoBaseUpload(io.BytesIO(VTT), mimetype="text/vtt", chunksize=CHUNK, resumable=True)
    youtube.captions().insert(part="snippet", body={"snippet": german}, media_body=media).execute()

    tracks = fake.captions[video_id]
    assert [t["body"] for t in tracks] == [VTT, VTT]
    assert [(t["snippet"]["language"], t["snippet"]["name"], t["snippet"]["isDraft"]) for t in tracks] == [
        ("en", "English", False),
        ("de", "Deutsch", True),
    ]
    listed = youtube.captions().list(part="snippet", videoId=video_id).execute()
    assert [item["id"] for item in listed["items"]] == [t["id"] for t in tracks]


def test_caption_refusals(fake: FakeYouTube, youtube: Any) -> None:
    video_id = finish(insert(youtube, payload=b"v"))[0]["id"]
    body = {"snippet": {"videoId": video_id, "language": "en", "name": "English"}}
    fake.script = ["caption_forbidden"]
    media = MediaIoBaseUpload(io.BytesIO(VTT), mimetype="text/vtt")
    with pytest.raises(HttpError) as caught:
        youtube.captions().insert(part="snippet", body=body, media_body=media).execute()
    assert caught.value.status_code == 403
    assert caught.value.error_details[0]["reason"] == "forbidden"
    assert fake.captions.get(video_id, []) == []


def test_playlist_items_insert(fake: FakeYouTube, youtube: Any) -> None:
    video_id = finish(insert(youtube, payload=b"v"))[0]["id"]
    body = {"snippet": {"playlistId": "PLpapercast", "resourceId": {"kind": "youtube#video", "videoId": video_id}}}
    item = youtube.playlistItems().insert(part="snippet", body=body).execute()
    assert item["kind"] == "youtube#playlistItem"
    assert item["snippet"]["resourceId"]["videoId"] == video_id
    assert fake.playlist_items == [body]


def test_a_wrong_token_is_401(fake: FakeYouTube) -> None:
    # The client's AuthorizedHttp answers a 401 by refreshing the token, which a bare token cannot do.
    with pytest.raises(RefreshError):
        youtube_for(fake, token="stolen").videos().list(part="id", id="x").execute()
    assert fake.requests[-1]["headers"]["authorization"] == "Bearer stolen"

    # Without the refresh, the 401 itself, as Google words it.
    http = build_http()
    http.ca_certs = fake.ca_certs
    for token, script in (("stolen", []), ("test-token", ["unauthorized"])):
        fake.script = script
        authorised = google_auth_httplib2.AuthorizedHttp(Credentials(token=token), http=http, refresh_status_codes=())
        youtube = build("youtube", "v3", http=authorised, client_options={"api_endpoint": fake.api_endpoint})
        with pytest.raises(HttpError) as caught:
            insert(youtube).next_chunk()
        assert caught.value.status_code == 401
        assert caught.value.error_details[0]["reason"] == "authError"
    assert fake.inserts_started == 0
    assert fake.script == []


def test_protocol_edges_over_https_and_plain_http(fake: FakeYouTube, youtube: Any) -> None:
    request = insert(youtube)
    request.next_chunk()
    uri = request.resumable_uri
    auth = {"Authorization": "Bearer test-token"}

    def put(headers: dict[str, str], body: bytes = b"", target: str = uri) -> tuple[Any, dict[str, Any]]:
        answer, content = request.http.request(target, "PUT", body=body, headers={**auth, **headers})
        return answer, json.loads(content) if content else {}

    total = len(PAYLOAD)
    answer, _ = put({"Content-Range": f"bytes */{total}"})
    assert (answer.status, answer["range"]) == (308, f"bytes=0-{CHUNK - 1}")
    answer, error = put({"Content-Range": f"bytes {CHUNK}-{CHUNK + 99}/{total}"}, PAYLOAD[CHUNK : CHUNK + 100])
    assert answer.status == 400
    assert "equal or greater than 262144" in error["error"]["message"]
    answer, error = put({"Content-Range": f"bytes {3 * CHUNK}-{4 * CHUNK - 1}/{total}"}, bytes(CHUNK))
    assert answer.status == 400
    assert "exceeds already uploaded size" in error["error"]["message"]
    answer, _ = put({"Content-Range": f"bytes */{total}"}, target=uri.replace("upload_id=", "upload_id=x"))
    assert answer.status == 404

    # A new session has no Range until a byte is kept.
    start, _ = request.http.request(
        fake.api_endpoint + "upload/youtube/v3/videos?uploadType=resumable&part=snippet",
        "POST",
        body=json.dumps({"snippet": {"title": "t"}}),
        headers={**auth, "Content-Type": "application/json", "X-Upload-Content-Length": str(total)},
    )
    assert start.status == 200
    answer, _ = put({"Content-Range": f"bytes */{total}"}, target=start["location"])
    assert answer.status == 308
    assert "range" not in answer

    # The same port answers plain HTTP at fake.url.
    port = int(fake.url.rsplit(":", 1)[1])
    plain = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    plain.request("GET", "/youtube/v3/videos?part=id&id=nothing", headers=auth)
    listed = plain.getresponse()
    assert (listed.status, json.loads(listed.read())["items"]) == (200, [])
    assert fake.url.startswith("http://")
    assert fake.api_endpoint == fake.url.replace("http://", "https://") + "/"
    with pytest.raises(ssl.SSLError):  # and its certificate is not trusted by default
        tls = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ssl.create_default_context())
        tls.request("GET", "/youtube/v3/videos?part=id&id=x", headers=auth)
