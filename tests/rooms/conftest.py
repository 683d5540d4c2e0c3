"""Fixtures for the rooms tests: API clients signed in as a given person."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.rooms.apiclient import ApiClient


@pytest.fixture
def api_for(db: Any) -> Callable[..., ApiClient]:
    """`api_for(user)` is a client signed in as `user`; `api_for()` is anonymous."""

    def make(user: Any = None) -> ApiClient:
        api = ApiClient()
        if user is not None:
            api.client.force_login(user)
        return api

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2 at Django's default cost takes about 0.3 s per account on this machine and
    these tests create dozens of accounts; what they test does not depend on the hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def group(make_user: Callable[..., Any]) -> Any:
    """A support group with every role (tests/rooms/moderation_kit.py)."""
    from tests.rooms.moderation_kit import make_group

    return make_group(make_user)
