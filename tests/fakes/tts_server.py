"""An OpenAI-compatible speech server on 127.0.0.1 (POST /v1/audio/speech, as OpenAI and Kokoro-FastAPI
speak it): the reply is the audio itself, a tone whose length grows with the text. Like OpenAI's, its WAV
header can claim an unknown length (0xFFFFFFFF), which readers must survive."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.serve import serve

RATE = 24_000
VOICES = ("alloy", "af_bella")


def tone_wav(seconds: float, *, streaming_header: bool) -> bytes:
    frames = int(RATE * seconds)
    samples = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * i / RATE))) for i in range(frames))
    size = 0xFFFFFFFF if streaming_header else len(samples)
    riff = 0xFFFFFFFF if streaming_header else 36 + len(samples)
    header = b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16)
    return header + b"data" + struct.pack("<I", size) + samples


class FakeSpeech:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self.streaming_header = True

    def seconds_for(self, text: str, speed: float) -> float:
        return round(0.05 * len(text.split()) / speed + 0.2, 3)


def _handler(fake: FakeSpeech) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            fake.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            if self.path != "/v1/audio/speech":
                self._json(404, {"detail": "Not Found"})
                return
            if self.headers.get("Authorization") == "Bearer wrong":
                self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
                return
            if body.get("voice") not in VOICES:
                self._json(
                    400,
                    {"error": {"message": f"Voice '{body.get('voice')}' not found", "type": "invalid_request_error"}},
                )
                return
            audio = tone_wav(
                fake.seconds_for(body["input"], float(body.get("speed", 1.0))), streaming_header=fake.streaming_header
            )
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(audio)))
            self.end_headers()
            self.wfile.write(audio)

    return Handler


@contextmanager
def running_speech(fake: FakeSpeech) -> Iterator[FakeSpeech]:
    with serve(_handler(fake)) as url:
        fake.url = url + "/v1"
        yield fake
