from __future__ import annotations

from django.apps import AppConfig


class SignalingConfig(AppConfig):
    name = "signaling"
    verbose_name = "WebRTC signaling"

    def ready(self) -> None:
        # Registers the configuration checks that `manage.py check` and every start run.
        from signaling import checks  # noqa: F401
