"""Re-encrypt every stored message body under the first key in MESSAGE_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rooms.crypto import MessageKeyError, rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every message body under the first key in MESSAGE_KEYS. Put the new key "
        "first, keep the old keys after it, run this, then remove the old keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows per transaction (default 500)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            count = rotate_all(batch_size=options["batch_size"])
        except MessageKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Re-encrypted {count} message(s) under the first key in MESSAGE_KEYS.")
