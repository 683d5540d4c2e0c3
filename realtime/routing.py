"""Websocket routes: `/ws/rooms/<room_id>/`, behind the Origin check and session auth."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from realtime.consumer import RoomConsumer

websocket_urlpatterns = [
    # Any segment matches so that a malformed id gets close code 4404 instead of a dead route.
    re_path(r"^ws/rooms/(?P<room_id>[^/]{1,64})/$", RoomConsumer.as_asgi()),
]

websocket_application = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
)
