"""The lease on one video while this uploader works on it: renewed between chunks whenever less than a third
of it is left, claimed anew if it ran out while nobody else took the video, and lost (LeaseLost) otherwise."""

from __future__ import annotations

import logging
from collections.abc import Callable

from uploader.papercast import Claim, Papercast, PapercastError, PapercastUnavailable

log = logging.getLogger("uploader")

LOST = frozenset({"not_lease_holder", "lease_held", "already_published"})


class LeaseLost(Exception):
    """The video's lease ran out and another uploader claimed it, or it was released."""


class Lease:
    """A claim on one video, renewed while less than a third of it is left (checked between chunks)."""

    def __init__(
        self,
        api: Papercast,
        video: int,
        claim: Claim,
        *,
        seconds: int,
        clock: Callable[[], float],
        on_change: Callable[[str], None],
    ) -> None:
        self.api = api
        self.video = video
        self.seconds = seconds
        self.clock = clock
        self.on_change = on_change
        self.id = claim.lease
        self.details = claim.video
        self.renew_at = 0.0
        self.runs_out_at = 0.0
        self._taken()

    def _taken(self) -> None:
        # The local clock, not the server's expires_at: the two clocks may disagree, and the claim's answer
        # arrives after the server started the lease, so renew_at errs on the early side and runs_out_at (by
        # then the lease has certainly run out) on the late one.
        now = self.clock()
        self.renew_at = now + self.seconds * 2 / 3
        self.runs_out_at = now + self.seconds

    def keep_alive(self) -> None:
        if self.clock() >= self.renew_at:
            self.renew()

    def renew(self) -> None:
        try:
            claim = self.api.renew(self.video, self.id, self.seconds)
        except PapercastUnavailable as exc:
            if self.clock() >= self.runs_out_at:
                # Another uploader may have claimed the video and started its own upload: finishing this one
                # would put the video on YouTube twice. An unfinished session makes no video; it is resumed
                # once this machine holds the video again.
                raise LeaseLost(
                    f"Video {self.video}: the lease has run out while papercast could not be reached ({exc})"
                ) from exc
            # The lease may well hold a while yet: carry on, and try again before the next chunk.
            log.warning(
                "Video %d: could not renew the lease (%s); trying again before the next chunk.", self.video, exc
            )
            return
        except PapercastError as exc:
            if exc.code != "lease_expired":
                raise LeaseLost(f"Video {self.video}: the lease is lost ({exc.code}: {exc.detail})") from exc
            claim = self.reclaim()  # a new lease: reclaim() records its id
        else:
            if claim.lease != self.id:
                # A renewal keeps its lease's id. papercast reads the video again after renewing, so a claim
                # made in between shows in the answer: that lease is another uploader's, never to be taken for
                # this one's (reporting with it would publish over the other's upload).
                raise LeaseLost(f"Video {self.video}: the lease is lost (another uploader claimed the video)")
        self.details = claim.video
        self._taken()
        log.debug("Video %d: lease %s renewed for %d s.", self.video, self.id, self.seconds)

    def reclaim(self) -> Claim:
        """A lease that ran out but that nobody took since: claim the video anew."""
        try:
            claim = self.api.claim(self.video, self.seconds)
        except PapercastError as exc:
            if exc.code in LOST:
                raise LeaseLost(f"Video {self.video}: the lease ran out and {exc.detail}") from exc
            raise
        except PapercastUnavailable as exc:
            raise LeaseLost(f"Video {self.video}: the lease ran out and papercast cannot be reached: {exc}") from exc
        log.info("Video %d: the lease had run out; claimed the video again.", self.video)
        if claim.lease != self.id:
            self.id = claim.lease
            self.on_change(self.id)
        return claim
