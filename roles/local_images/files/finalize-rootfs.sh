#!/bin/sh
# Turn a fresh debootstrap tree into a container base like Debian's official
# slim image: full bookworm sources, no recommends, no docs, no caches.
set -eu
root="$1"
mirror="$2"
security_mirror="$3"

cat > "$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
SOURCES

cat > "$root/etc/apt/apt.conf.d/90acs-container" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT

cat > "$root/etc/dpkg/dpkg.cfg.d/90acs-container" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
DPKG

rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
  "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/tmp/* 
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
: > "$root/etc/machine-id"
