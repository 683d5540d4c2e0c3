"""The production static storage hashes every ES module and rewrites their imports."""

from __future__ import annotations

import re
from pathlib import Path

from django.core.management import call_command
from django.test import override_settings

IMPORT = re.compile(r"""from\s+["'](\./[^"']+)["']""")


def test_collected_modules_import_each_other_by_hashed_name(tmp_path: Path) -> None:
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "frontend.storage.StaticStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)

    js = tmp_path / "frontend" / "js"
    hashed = [p for p in js.glob("*.*.js") if not p.name.endswith(".gz")]
    check = next(p for p in hashed if p.name.startswith("check."))
    imports = IMPORT.findall(check.read_text())
    assert imports, "check.js imports its helpers"
    for name in imports:
        # ./dom.abc123def456.js: a content hash, so the file can be cached forever.
        assert re.fullmatch(r"\./\w+\.[0-9a-f]{12}\.js", name), name
        assert (js / name[2:]).exists(), name
