from __future__ import annotations

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Hearth realtime"

    def ready(self) -> None:
        from asgiref.sync import async_to_sync

        from realtime import broadcast
        from rooms import events

        def publish(room_id: str, effects: list[events.Effect]) -> None:
            async_to_sync(broadcast.publish)(room_id, effects)

        events.publisher_register(publish)
