"""apitoken: make an API token for a user (e.g. the YouTube uploader's account), or revoke a user's tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from knox.models import AuthToken


class Command(BaseCommand):
    help = (
        "Print a new API token for USER (shown only this once; only its digest is stored), or with --revoke "
        "delete every token of USER."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--days", type=float, help="Days until the token expires (default PAPERCAST_API_TOKEN_DAYS)."
        )
        parser.add_argument("--revoke", action="store_true", help="Revoke all of the user's tokens instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"There is no user {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"The user {user.get_username()!r} is inactive; activate the account first.")
        if options["revoke"]:
            count, _ = AuthToken.objects.filter(user=user).delete()
            self.stdout.write(f"Revoked {count} token(s) of {user.get_username()}.")
            return
        days = options["days"]
        if days is not None and not 0 < days <= 3650:
            raise CommandError("--days must be more than 0 and at most 3650.")
        kwargs: dict[str, Any] = {} if days is None else {"expiry": timedelta(days=days)}
        instance, token = AuthToken.objects.create(user=user, **kwargs)
        self.stderr.write(f"Token for {user.get_username()}, expires {instance.expiry:%Y-%m-%d %H:%M %Z}:")
        self.stdout.write(token)
