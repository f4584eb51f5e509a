#!/bin/sh
# The official redis entrypoint contract: bare flags or a .conf file go to
# redis-server; redis-server drops to the redis user. The official build
# compiles protected mode off; Debian's is on, so it is switched off here
# unless a configuration file (which then decides) comes first.
set -eu

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = "redis-server" ]; then
  shift
  case "${1:-}" in
    "" | -*) set -- redis-server --protected-mode no "$@" ;;
    *) set -- redis-server "$@" ;;
  esac
  if [ "$(id -u)" = "0" ]; then
    chown -R redis:redis /data 2>/dev/null || true
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
