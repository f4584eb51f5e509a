#!/bin/sh
# Start a Grid node the way the official node images do, from the same
# SE_* variables; with --healthcheck, probe instead of starting.
set -eu

if [ "${1:-}" = "--healthcheck" ]; then
  status="$(curl -fsS --max-time 5 "http://127.0.0.1:${SE_NODE_PORT}/status")" || exit 1
  # The node's own /status says both whether it can take sessions and
  # whether the hub acknowledged its registration over the event bus.
  flat="$(printf '%s' "$status" | tr -d ' \n')"
  case "$flat" in
    *'"ready":true'*) ;;
    *) echo "node not ready"; exit 1 ;;
  esac
  case "$flat" in
    *'"registered":true'*) exit 0 ;;
    *) echo "node not registered with the hub"; exit 1 ;;
  esac
fi

if [ -z "${SE_EVENT_BUS_HOST}" ] && [ -z "${SE_NODE_GRID_URL}" ]; then
  echo "error: set SE_EVENT_BUS_HOST (the selenium-hub service name), as for selenium/node-chrome" >&2
  exit 1
fi

config=/tmp/selenium-node-config.toml
cat > "$config" <<TOML
[node]
detect-drivers = false
max-sessions = ${SE_NODE_MAX_SESSIONS}
override-max-sessions = ${SE_NODE_OVERRIDE_MAX_SESSIONS}
session-timeout = ${SE_NODE_SESSION_TIMEOUT}
drain-after-session-count = ${SE_DRAIN_AFTER_SESSION_COUNT}
selenium-manager = false

[[node.driver-configuration]]
display-name = "chrome"
webdriver-executable = "/usr/bin/chromedriver"
max-sessions = ${SE_NODE_MAX_SESSIONS}
stereotype = '{"browserName": "chrome", "platformName": "linux", "goog:chromeOptions": {"binary": "/usr/bin/chromium"}}'
TOML

set -- --config "$config" --port "${SE_NODE_PORT}" --log-level "${SE_LOG_LEVEL}"
if [ -n "${SE_EVENT_BUS_HOST}" ]; then
  set -- "$@" \
    --publish-events "tcp://${SE_EVENT_BUS_HOST}:${SE_EVENT_BUS_PUBLISH_PORT}" \
    --subscribe-events "tcp://${SE_EVENT_BUS_HOST}:${SE_EVENT_BUS_SUBSCRIBE_PORT}"
fi
if [ -n "${SE_NODE_GRID_URL}" ]; then
  set -- "$@" --grid-url "${SE_NODE_GRID_URL}"
fi
if [ -n "${SE_NODE_HOST}" ]; then
  set -- "$@" --host "${SE_NODE_HOST}"
fi
# shellcheck disable=SC2086  # SE_JAVA_OPTS / SE_OPTS are option lists
exec java ${SE_JAVA_OPTS} -jar /opt/selenium/selenium-server.jar node "$@" ${SE_OPTS}
