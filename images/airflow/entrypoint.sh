#!/bin/bash
# The official Airflow image's entrypoint contract, condensed:
# - `bash ...` / `python ...` run as given, anything else as `airflow ...`;
# - waits for the metadata database (CONNECTION_CHECK_MAX_COUNT tries,
#   CONNECTION_CHECK_SLEEP_TIME seconds apart; 0 tries skips the wait);
# - _AIRFLOW_DB_MIGRATE=true runs `airflow db migrate` first;
# - _AIRFLOW_WWW_USER_CREATE=true creates the admin user
#   (_AIRFLOW_WWW_USER_USERNAME / _AIRFLOW_WWW_USER_PASSWORD, FAB auth manager).
set -euo pipefail

wait_for_db() {
  local tries="${CONNECTION_CHECK_MAX_COUNT:-20}" sleep_s="${CONNECTION_CHECK_SLEEP_TIME:-3}" i=1
  [ "$tries" -gt 0 ] || return 0
  until airflow db check >/dev/null 2>&1; do
    if [ "$i" -ge "$tries" ]; then
      echo "error: the metadata database is not reachable after $tries tries;" \
        "check AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" >&2
      airflow db check
      exit 1
    fi
    echo "waiting for the metadata database ($i/$tries)"
    i=$((i + 1))
    sleep "$sleep_s"
  done
}

case "${1:-}" in
  bash | python | python3 | sh) exec "$@" ;;
  "") set -- --help ;;
esac

case "${1}" in
  --help | version | info | config) ;;
  *) wait_for_db ;;
esac

if [ "${_AIRFLOW_DB_MIGRATE:-false}" = "true" ]; then
  airflow db migrate
fi

if [ "${_AIRFLOW_WWW_USER_CREATE:-false}" = "true" ]; then
  : "${_AIRFLOW_WWW_USER_USERNAME:?set _AIRFLOW_WWW_USER_USERNAME with _AIRFLOW_WWW_USER_CREATE=true}"
  : "${_AIRFLOW_WWW_USER_PASSWORD:?set _AIRFLOW_WWW_USER_PASSWORD with _AIRFLOW_WWW_USER_CREATE=true}"
  # The password on stdin (asked twice), not as --password where ps shows it;
  # setsid drops a terminal, so the prompt reads the pipe.
  printf '%s\n%s\n' "${_AIRFLOW_WWW_USER_PASSWORD}" "${_AIRFLOW_WWW_USER_PASSWORD}" |
    setsid -w airflow users create \
    --username "${_AIRFLOW_WWW_USER_USERNAME}" \
    --firstname "${_AIRFLOW_WWW_USER_FIRSTNAME:-Airflow}" \
    --lastname "${_AIRFLOW_WWW_USER_LASTNAME:-Admin}" \
    --email "${_AIRFLOW_WWW_USER_EMAIL:-airflowadmin@example.com}" \
    --role "${_AIRFLOW_WWW_USER_ROLE:-Admin}" || true
fi

exec airflow "$@"
