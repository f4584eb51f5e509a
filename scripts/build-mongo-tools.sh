#!/usr/bin/env bash
# Tries to build the MongoDB database tools (mongodump, mongorestore) from
# their Go module into ${ACS_BUILD_DIR:-/var/cache/acs-build}/bin.
#
# Status on the project's machines (checked 2026-11-27): the Go module proxy
# refuses github.com/mongodb/mongo-tools for every version ("403 This module
# version is not available": @latest, @master, tags, pseudo-versions, even the
# version list); Debian 12 and 11 carry no mongo-tools package; PyPI and npm
# carry no package with the binaries. So this script normally reports that
# the tools are unavailable and exits 0: the backup engine
# (module_utils/acs_backup/) then writes and reads the same mongodump
# archive format itself (docs/backup-format.md). In production the official
# mongo image carries the real tools and the engine uses them.
#
# STRICT=1 makes a failed build exit 1 (for a machine that should have them).
set -euo pipefail
build_dir="${ACS_BUILD_DIR:-/var/cache/acs-build}"
version="${MONGO_TOOLS_VERSION:-latest}"
mkdir -p "$build_dir/bin" "$build_dir/gopath"
export GOPATH="$build_dir/gopath" GOBIN="$build_dir/bin" CGO_ENABLED=0 GOFLAGS=-buildvcs=false

if [[ -x "$build_dir/bin/mongodump" && -x "$build_dir/bin/mongorestore" && "${FORCE:-0}" != 1 ]]; then
  echo "mongo tools already present in $build_dir/bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "go is not installed (apt-get install golang-go)" >&2
  [[ "${STRICT:-0}" == 1 ]] && exit 1 || exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
ok=1
for tool in mongodump mongorestore; do
  if ! go install "github.com/mongodb/mongo-tools/${tool}/main@${version}" >"$log" 2>&1; then
    ok=0
    echo "could not build ${tool}@${version}:" >&2
    sed 's/^/  /' "$log" >&2
    break
  fi
  # go install names the binary after the package directory: main.
  mv "$build_dir/bin/main" "$build_dir/bin/${tool}"
done

if [[ "$ok" == 1 ]]; then
  "$build_dir/bin/mongodump" --version | head -1
  exit 0
fi
echo "MongoDB database tools unavailable here; the backup engine uses its native" \
     "writer/reader of the same archive format (docs/backup-format.md)." >&2
[[ "${STRICT:-0}" == 1 ]] && exit 1
exit 0
