import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

from django.core.checks import run_checks

from signaling.ice import ice_servers_for

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_a_participant_gets_stun_and_turn_with_credentials_issued_for_them(settings):
    settings.STUN_URLS = ["stun:turn.hearth.test:3478"]
    settings.TURN_URLS = ["turn:turn.hearth.test:3478?transport=udp", "turns:turn.hearth.test:443"]
    settings.TURN_SECRET = "a-long-shared-secret-for-coturn"
    settings.TURN_CREDENTIAL_TTL_SECONDS = 3600

    config = ice_servers_for(participant_id="p-4", now=NOW).as_dict()

    expected_username = "1772370000:p-4"
    expected_password = base64.b64encode(
        hmac.new(
            b"a-long-shared-secret-for-coturn", expected_username.encode(), hashlib.sha1
        ).digest()
    ).decode()
    assert config == {
        "ice_servers": [
            {"urls": ["stun:turn.hearth.test:3478"]},
            {
                "urls": ["turn:turn.hearth.test:3478?transport=udp", "turns:turn.hearth.test:443"],
                "username": expected_username,
                "credential": expected_password,
            },
        ],
        "expires_at": "2026-03-01T13:00:00Z",
        "refresh_after": 2880,
    }


def test_the_client_is_told_to_refresh_well_before_the_credential_expires(settings):
    settings.TURN_URLS = ["turn:turn.hearth.test:3478"]
    settings.TURN_SECRET = "a-long-shared-secret-for-coturn"
    settings.TURN_CREDENTIAL_TTL_SECONDS = 600
    config = ice_servers_for(participant_id="p-4", now=NOW)
    assert config.refresh_after == 480
    assert config.expires_at == "2026-03-01T12:10:00Z"


def test_without_turn_nothing_expires_and_no_credentials_are_sent(settings):
    settings.STUN_URLS = ["stun:stun.hearth.test:3478"]
    settings.TURN_URLS = []
    settings.TURN_SECRET = ""
    config = ice_servers_for(participant_id="p-4", now=NOW).as_dict()
    assert config == {
        "ice_servers": [{"urls": ["stun:stun.hearth.test:3478"]}],
        "expires_at": None,
        "refresh_after": None,
    }


def test_with_nothing_configured_the_list_is_empty_never_a_public_default(settings):
    settings.STUN_URLS = []
    settings.TURN_URLS = []
    settings.TURN_SECRET = ""
    assert ice_servers_for(participant_id="p-4", now=NOW).ice_servers == []


def test_the_configuration_is_plain_json(settings):
    settings.STUN_URLS = ["stun:a.test"]
    settings.TURN_URLS = ["turn:a.test"]
    settings.TURN_SECRET = "a-long-shared-secret-for-coturn"
    config = ice_servers_for(participant_id="p-4").as_dict()
    assert json.loads(json.dumps(config)) == config


def test_turn_urls_without_a_secret_fail_the_system_check(settings):
    settings.TURN_URLS = ["turn:turn.hearth.test:3478"]
    settings.TURN_SECRET = ""
    ids = {message.id for message in run_checks()}
    assert "signaling.E003" in ids


def test_a_stun_url_in_the_turn_list_fails_the_system_check(settings):
    settings.TURN_URLS = ["stun:turn.hearth.test:3478"]
    settings.TURN_SECRET = "a-long-shared-secret-for-coturn"
    ids = {message.id for message in run_checks()}
    assert "signaling.E002" in ids


def test_a_credential_lifetime_over_a_day_is_warned_about(settings):
    settings.TURN_CREDENTIAL_TTL_SECONDS = 2 * 86400
    ids = {message.id for message in run_checks()}
    assert "signaling.W003" in ids
