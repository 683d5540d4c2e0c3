import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from signaling.turn import turn_credentials

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)  # 1772366400 in Unix seconds


def test_the_username_is_the_expiry_in_unix_seconds_then_the_participant():
    credential = turn_credentials(secret="s3cret", participant_id="p-12", ttl_seconds=600, now=NOW)
    assert credential.username == "1772367000:p-12"
    assert credential.expires_at == NOW + timedelta(seconds=600)


def test_the_password_is_base64_hmac_sha1_of_the_username_as_coturn_computes_it():
    credential = turn_credentials(secret="s3cret", participant_id="p-12", ttl_seconds=600, now=NOW)
    expected = base64.b64encode(
        hmac.new(b"s3cret", b"1772367000:p-12", hashlib.sha1).digest()
    ).decode()
    assert credential.password == expected
    # The same vector from `openssl dgst -sha1 -hmac s3cret -binary | base64`, so a change of
    # algorithm or encoding cannot slip through both sides.
    assert credential.password == "MyIlf1YCWxFyo7XlXXXpmzJs4m4="


def test_another_secret_gives_another_password_for_the_same_username():
    one = turn_credentials(secret="a", participant_id="p-1", ttl_seconds=60, now=NOW)
    two = turn_credentials(secret="b", participant_id="p-1", ttl_seconds=60, now=NOW)
    assert one.username == two.username
    assert one.password != two.password


def test_a_participant_id_containing_the_separator_is_refused():
    with pytest.raises(ValueError, match="must not contain"):
        turn_credentials(secret="s", participant_id="1:p-2", ttl_seconds=60, now=NOW)


def test_credentials_need_a_secret_and_an_aware_time():
    with pytest.raises(ValueError, match="secret"):
        turn_credentials(secret="", participant_id="p-1", ttl_seconds=60, now=NOW)
    with pytest.raises(ValueError, match="timezone"):
        turn_credentials(
            secret="s", participant_id="p-1", ttl_seconds=60, now=NOW.replace(tzinfo=None)
        )
