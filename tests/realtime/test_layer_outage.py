"""Which channel-layer failures count as Redis being away (the socket is told 4503, try again
later) rather than as a bug (daphne's 1011 or HTTP 500). The whole path, with a real Redis
killed and restarted under a real daphne, is tests/integration/test_outages.py."""

from __future__ import annotations

import redis

from realtime.broadcast import is_layer_outage


def test_redis_connection_failures_are_an_outage():
    assert is_layer_outage(redis.exceptions.ConnectionError("Connection refused"))
    assert is_layer_outage(ConnectionResetError())
    assert is_layer_outage(TimeoutError())


def test_a_subscribe_racing_the_readers_reconnect_is_an_outage_not_a_bug():
    # redis-py#2540: just after Redis comes back, two coroutines read the pub/sub connection.
    raced = RuntimeError(
        "readuntil() called while another coroutine is already waiting for incoming data"
    )
    assert is_layer_outage(raced)


def test_other_errors_are_not_an_outage():
    assert not is_layer_outage(RuntimeError("something else went wrong"))
    assert not is_layer_outage(ValueError("bad frame"))
