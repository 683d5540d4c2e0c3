"""Container health check for the Hearth image: GET one URL of this instance, exit 0 on 200.

Used by docker-compose.yml as `python /app/deploy/healthcheck.py http://127.0.0.1:8000/healthz`.
Django answers 400 to a Host it does not know, and in production ALLOWED_HOSTS lists only the
public names, so the request carries the first allowed host as its Host header.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/healthz"


def allowed_host() -> str:
    hosts = [item.strip() for item in os.environ.get("ALLOWED_HOSTS", "").split(",")]
    hosts = [host for host in hosts if host]
    # ".example.org" allows the bare domain too; use that.
    return hosts[0].lstrip(".") if hosts else "localhost"


def check(url: str) -> int:
    if not url.startswith(("http://", "https://")):
        print(f"health check: not an http(s) URL: {url!r}", file=sys.stderr)
        return 2
    request = urllib.request.Request(url, headers={"Host": allowed_host()})  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"health check: {url} unreachable: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"health check: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(check(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL))
