#!/bin/sh
# Entrypoint with the official mongo image's contract, run by FerretDB:
# - `mongod [flags]` (the default command) or bare flags start the server;
#   --port and --bind_ip/--bind_ip_all are honoured, other mongod flags are
#   accepted and ignored with a notice (FerretDB has no WiredTiger knobs);
# - MONGO_INITDB_ROOT_USERNAME / MONGO_INITDB_ROOT_PASSWORD (or *_FILE)
#   create the root user in `admin` on first start and turn authentication
#   on (FerretDB's SCRAM "new auth"), like the official image;
# - anything else is executed as given (e.g. `mongodump ...`, `bash`).
set -eu

file_env() {
  var="$1"
  file_var="${var}_FILE"
  eval "val=\${$var:-}"
  eval "file_val=\${$file_var:-}"
  if [ -n "$val" ] && [ -n "$file_val" ]; then
    echo "error: both $var and $file_var are set (but are exclusive)" >&2
    exit 1
  fi
  if [ -n "$file_val" ]; then
    val="$(cat "$file_val")"
  fi
  export "$var"="$val"
  unset "$file_var"
}

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- mongod "$@"
fi

if [ "$1" != "mongod" ]; then
  exec "$@"
fi
shift

host="0.0.0.0"
port="27017"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --port=*) port="${1#--port=}"; shift ;;
    --bind_ip_all) host="0.0.0.0"; shift ;;
    --bind_ip) host="${2%%,*}"; shift 2 ;;
    --bind_ip=*) v="${1#--bind_ip=}"; host="${v%%,*}"; shift ;;
    *) echo "notice: mongod option '$1' has no FerretDB equivalent; ignored" >&2; shift ;;
  esac
done
export FERRETDB_LISTEN_ADDR="${host}:${port}"

file_env MONGO_INITDB_ROOT_USERNAME
file_env MONGO_INITDB_ROOT_PASSWORD
if [ -n "$MONGO_INITDB_ROOT_USERNAME" ]; then
  if [ -z "$MONGO_INITDB_ROOT_PASSWORD" ]; then
    echo "error: MONGO_INITDB_ROOT_USERNAME is set but MONGO_INITDB_ROOT_PASSWORD is empty; set both or neither" >&2
    exit 1
  fi
  export FERRETDB_TEST_ENABLE_NEW_AUTH=true
  export FERRETDB_SETUP_DATABASE=admin
  export FERRETDB_SETUP_USERNAME="$MONGO_INITDB_ROOT_USERNAME"
  export FERRETDB_SETUP_PASSWORD="$MONGO_INITDB_ROOT_PASSWORD"
fi

if [ "$(id -u)" = "0" ]; then
  chown -R mongodb:mongodb /data/db /data/configdb
  exec setpriv --reuid=mongodb --regid=mongodb --init-groups ferretdb
fi
exec ferretdb
