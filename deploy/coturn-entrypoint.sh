#!/bin/sh
# Start coturn with deploy/turnserver.conf plus the values that come from the environment:
# static-auth-secret (TURN_SECRET), realm (TURN_REALM) and external-ip (TURN_EXTERNAL_IP).
# The secret goes into a private copy of the configuration file, never onto the command line,
# where any user of the host could read it with `ps`. Extra arguments are passed to turnserver.
set -eu

if [ -z "${TURN_SECRET:-}" ]; then
    echo "coturn: TURN_SECRET is not set; refusing to start a relay anyone could use." >&2
    exit 1
fi

umask 077
config="$(mktemp "${TMPDIR:-/tmp}/turnserver.XXXXXX")"
cat "${TURN_CONFIG:-/etc/coturn/turnserver.conf}" > "$config"
printf 'static-auth-secret=%s\n' "$TURN_SECRET" >> "$config"
printf 'realm=%s\n' "${TURN_REALM:-hearth}" >> "$config"
if [ -n "${TURN_EXTERNAL_IP:-}" ]; then
    # Behind 1:1 NAT (most clouds): "public-ip" or "public-ip/private-ip".
    printf 'external-ip=%s\n' "$TURN_EXTERNAL_IP" >> "$config"
fi
unset TURN_SECRET

exec turnserver -c "$config" "$@"
