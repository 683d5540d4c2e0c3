"""`manage.py precall_worker`: the process that hosts pre-call test peers (docs/operations.md).

Equivalent to `manage.py runworker precall` with realtime.precall_worker.PrecallWorker routed
to that channel, plus an orderly stop: on SIGTERM or SIGINT every pre-call session is closed
before the process exits.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.precall_worker import (
    PRECALL_CHANNEL,
    ChannelLayerTransport,
    registry_from_settings,
    run_precall_worker,
)


class Command(BaseCommand):
    help = (
        "Run the pre-call test peers (camera, microphone and network check) in this process, "
        "reached through the channel layer. Run one per channel name."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--channel", default=PRECALL_CHANNEL, help="Channel name to serve (default: precall)."
        )
        parser.add_argument(
            "--layer", default=DEFAULT_CHANNEL_LAYER, help="Channel layer alias to use."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        layer = get_channel_layer(options["layer"])
        if layer is None:
            raise CommandError("No channel layer is configured (CHANNEL_LAYERS).")
        asyncio.run(self._serve(layer=layer, channel=options["channel"]))

    async def _serve(self, *, layer: BaseChannelLayer, channel: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        registry = registry_from_settings(transport=ChannelLayerTransport(layer))
        self.stdout.write(
            f"Pre-call worker on channel {channel!r}: at most {registry.max_concurrent} tests "
            f"of {registry.max_seconds:g} s at once."
        )
        await run_precall_worker(layer=layer, registry=registry, stop=stop, channel=channel)
        self.stdout.write("Pre-call worker stopped.")
