"""Print where the embedded server listens and the demo logins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rooms.management.commands.seed_demo import DEMO_PASSWORD, DEMO_PEOPLE


class Command(BaseCommand):
    help = "Print the embedded server's URL and the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        url = f"http://127.0.0.1:{options['port']}/"
        lines = [
            "",
            f"Hearth is starting at {url}",
            "",
            f"Demo logins (password for all: {DEMO_PASSWORD}):",
        ]
        for username, name, _role, zone in DEMO_PEOPLE:
            lines.append(f"  {username:<22} {name:<28} {zone}")
        lines.append("")
        self.stdout.write("\n".join(lines))
