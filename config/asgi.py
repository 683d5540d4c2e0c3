"""The ASGI application daphne serves: HTTP through Django, websockets through realtime."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application

# Django must be set up before anything imports models.
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from realtime.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": django_http, "websocket": websocket_application})

# What is loaded by now (Django, Channels, Twisted, the app's modules) lives as long as the
# process. Frozen, the collector stops walking it on every full collection: those walks paused
# a daphne instance for 45-50 ms at a time (measured while families joined, docs/benchmarks.md),
# and every socket of the instance waits through a pause.
gc.collect()
gc.freeze()
