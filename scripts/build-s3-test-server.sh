#!/usr/bin/env bash
# Builds the S3-compatible server the backup tests upload to: gofakes3 (MIT),
# a real HTTP S3 implementation, from its Go module. MinIO is AGPL: not used.
# Output: ${ACS_BUILD_DIR:-/var/cache/acs-build}/bin/gofakes3
set -euo pipefail
build_dir="${ACS_BUILD_DIR:-/var/cache/acs-build}"
version="${GOFAKES3_VERSION:-v1.2.0}"
mkdir -p "$build_dir/bin" "$build_dir/gopath"
export GOPATH="$build_dir/gopath" GOBIN="$build_dir/bin" CGO_ENABLED=0 GOFLAGS=-buildvcs=false
if [[ -x "$build_dir/bin/gofakes3" && "${FORCE:-0}" != 1 ]]; then
  echo "gofakes3 already built: $build_dir/bin/gofakes3"
  exit 0
fi
go install "github.com/johannesboyne/gofakes3/cmd/gofakes3@${version}"
echo "built $build_dir/bin/gofakes3 ($version)"
