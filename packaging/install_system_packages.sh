#!/usr/bin/env bash
# Installs the packages of packaging/apt-packages.txt that are missing (make run / make test).
# apt waits up to APT_LOCK_TIMEOUT seconds (default 300) for another apt, dpkg or
# unattended-upgrades to release its lock; if that is not enough it says so in one line
# instead of apt's raw lock error. APT_GET, DPKG and SUDO may be overridden (tests do).
set -uo pipefail
cd "$(dirname "$0")/.."
APT_GET=${APT_GET:-apt-get}
DPKG=${DPKG:-dpkg}
TIMEOUT=${APT_LOCK_TIMEOUT:-300}
if [ -z "${SUDO+x}" ]; then SUDO=$([ "$(id -u)" = 0 ] || echo sudo); fi

missing=$(for p in $(grep -v '^#' packaging/apt-packages.txt); do
  "$DPKG" -s "$p" >/dev/null 2>&1 || echo "$p"; done | tr '\n' ' ')
[ -z "${missing// /}" ] && exit 0
echo "Installing system packages: $missing"

apt() {
  local err rc
  err=$(mktemp)
  DEBIAN_FRONTEND=noninteractive $SUDO "$APT_GET" -o "DPkg::Lock::Timeout=$TIMEOUT" "$@" 2>"$err"
  rc=$?
  if [ "$rc" -ne 0 ] && grep -qiE "could not get lock|unable to acquire the dpkg|lock-frontend" "$err"; then
    echo "apt is busy: another apt, dpkg or unattended-upgrades held its lock for over ${TIMEOUT} s; wait for it to finish (or raise APT_LOCK_TIMEOUT) and run make again" >&2
  else
    cat "$err" >&2
  fi
  rm -f "$err"
  return "$rc"
}

# shellcheck disable=SC2086  # one word per package
apt update -qq && apt install -y -qq $missing
