"""Websocket routes. Replaced by the room consumer in the realtime issue."""

from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

websocket_application = AllowedHostsOriginValidator(URLRouter([]))
