#!/bin/sh
# The official hub image's start script, reduced to the variables it reads.
set -eu
# shellcheck disable=SC2086  # SE_JAVA_OPTS / SE_OPTS are option lists
exec java ${SE_JAVA_OPTS} -jar /opt/selenium/selenium-server.jar hub \
  --port "${SE_HUB_PORT}" \
  --publish-events "tcp://*:${SE_EVENT_BUS_PUBLISH_PORT}" \
  --subscribe-events "tcp://*:${SE_EVENT_BUS_SUBSCRIBE_PORT}" \
  --session-request-timeout "${SE_SESSION_REQUEST_TIMEOUT}" \
  --session-retry-interval "${SE_SESSION_RETRY_INTERVAL}" \
  --healthcheck-interval "${SE_HEALTHCHECK_INTERVAL}" \
  --relax-checks "${SE_RELAX_CHECKS}" \
  --log-level "${SE_LOG_LEVEL}" \
  ${SE_OPTS}
