#!/bin/sh
# The Hassette add-on's start script: turns the add-on's options (/data/options.json, written
# by the Supervisor) into hassette.toml, then runs hassette against Home Assistant through the
# Supervisor's proxy, ws://supervisor/core/websocket, with the add-on's SUPERVISOR_TOKEN.
# Caches and logs live under /data, which the Supervisor keeps across restarts and updates.
#
# For tests, every path and the URL can be overridden: HASSETTE_ADDON_OPTIONS,
# HASSETTE_ADDON_CONFIG, HASSETTE_ADDON_DATA_DIR, HASSETTE_SUPERVISOR_URL, HASSETTE_BIN.
set -eu

options=${HASSETTE_ADDON_OPTIONS:-/data/options.json}
config=${HASSETTE_ADDON_CONFIG:-/data/hassette.toml}
data_dir=${HASSETTE_ADDON_DATA_DIR:-/data/hassette}
url=${HASSETTE_SUPERVISOR_URL:-ws://supervisor/core/websocket}
bin=${HASSETTE_BIN:-/usr/bin/hassette}

fail() {
    echo "hassette add-on: $*" >&2
    exit 1
}
[ -n "${SUPERVISOR_TOKEN:-}" ] || fail "SUPERVISOR_TOKEN is not set (is homeassistant_api: true in config.yaml?)"
[ -r "$options" ] || fail "cannot read the add-on options at $options"

# JSON strings are valid TOML basic strings (the same escapes), so `tojson` quotes safely.
jq -r --arg url "$url" --arg data_dir "$data_dir" --arg options "$options" '
"# Written at every start by the add-on from \($options); edits here are overwritten.",
"[hassette]",
"base_url = \($url | tojson)",
"data_dir = \($data_dir | tojson)",
"log_level = \((.log_level // "info") | ascii_upcase | tojson)",
"default_cache_size = \(.cache_size // "100 MiB" | if type == "number" then tostring else tojson end)",
((.apps // [])[] |
    "",
    "[hassette.apps.\(.key | tojson)]",
    "class_name = \(.class_name | tojson)",
    "enabled = \(if .enabled == false then "false" else "true" end)",
    ((.config // "") | ltrimstr(" ") |
        if . == "" then empty
        elif startswith("[") or startswith("{") then "config = \(.)"
        else "config = { \(.) }" end))
' "$options" > "$config.tmp" || fail "cannot turn $options into $config"
mv "$config.tmp" "$config"
echo "hassette add-on: $config written from $options; connecting to $url"

# The token goes through the environment, never into the file.
HASSETTE__TOKEN=$SUPERVISOR_TOKEN
export HASSETTE__TOKEN
exec "$bin" run -c "$config"
