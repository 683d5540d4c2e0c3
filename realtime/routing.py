"""Websocket routes: `/ws/rooms/<room_id>/`, behind the Origin check, with the Django session
attached (not yet read: realtime.auth reads it in the socket's first database trip)."""

from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.urls import re_path

from realtime.consumer import RoomConsumer

websocket_urlpatterns = [
    # Any segment matches so that a malformed id gets close code 4404 instead of a dead route.
    re_path(r"^ws/rooms/(?P<room_id>[^/]{1,64})/$", RoomConsumer.as_asgi()),
]

# Not channels' AuthMiddlewareStack: its AuthMiddleware resolves the user in a trip of its own
# to Channels' single shared database thread before the consumer starts, for every socket,
# ticket sockets included. realtime.auth.session_user reads the same session with Django's own
# get_user inside the socket's opening trip instead.
websocket_application = AllowedHostsOriginValidator(
    CookieMiddleware(SessionMiddleware(URLRouter(websocket_urlpatterns)))
)
