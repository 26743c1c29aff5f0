#!/usr/bin/env bash
# CI: build the frozen app and its .deb, install it, run the INSTALLED app, uninstall it.
#   bash packaging/ci_installer_check.sh [--no-build]
# Steps: build (packaging/build_linux.sh) -> dpkg -i -> launcher/desktop/MIME checks ->
#   `radiview --version` -> `radiview --self-test` -> `radiview screen` over real sample films,
#   the shared DICOM files and RLE/JPEG 2000/JPEG-LS DICOMs (CSV row count, no error rows, PDF) ->
#   `radiview listen` receives one film by C-STORE (packaging/ci_push_film.py) and reports it ->
#   GUI shows its main window with a DICOM film on Xvfb (needs xvfb-run, xwininfo) -> dpkg -r (and
#   /opt/radiview is gone). Every step prints its time; any failure stops with a message.
# Env: RADIVIEW_INSTALLER_BUDGET  seconds for the whole check (default 900 = 15 min)
#      RADIVIEW_CI_MODEL          model bundle folder to use instead of the bundled one
#      RADIVIEW_CPU_ONLY=1        build the smaller --cpu-only bundle
set -euo pipefail
cd "$(dirname "$0")/.."

BUDGET=${RADIVIEW_INSTALLER_BUDGET:-900}
if [ -z "${_RADIVIEW_CI_BUDGETED:-}" ]; then
    # Re-run this script under one wall-clock limit so a hung build or app cannot stall CI.
    export _RADIVIEW_CI_BUDGETED=1
    rc=0
    timeout --kill-after=60 "$BUDGET" bash "$0" "$@" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "ci_installer_check: FAILED: over its ${BUDGET} s budget (RADIVIEW_INSTALLER_BUDGET)" >&2
        if dpkg-query -W radiview >/dev/null 2>&1; then
            $([ "$(id -u)" = 0 ] || echo sudo) dpkg --purge radiview >/dev/null 2>&1 || true
        fi
    fi
    exit "$rc"
fi

BUILD=1
for arg in "$@"; do
    case "$arg" in
        --no-build) BUILD="" ;;
        *) echo "ci_installer_check: unknown option $arg" >&2; exit 2 ;;
    esac
done
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
PY=${PYTHON:-.venv/bin/python}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' radiview/__init__.py)
DEB=dist/radiview_${VERSION}_$(dpkg --print-architecture).deb
WORK=$(mktemp -d)
MODEL_ARGS=()
[ -n "${RADIVIEW_CI_MODEL:-}" ] && MODEL_ARGS=(--model "$(realpath "$RADIVIEW_CI_MODEL")")
installed=""
t_all=$(date +%s)
declare -a SUMMARY=()

fail() {
    echo "ci_installer_check: FAILED: $*" >&2
    exit 1
}
cleanup() {
    if [ -n "$installed" ]; then $SUDO dpkg --purge radiview >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
step_start() { echo "== ci_installer_check: $*"; t_step=$(date +%s); }
step_end() {
    local took=$(( $(date +%s) - t_step ))
    echo "   ok ($took s)"
    SUMMARY+=("$(printf '%-26s %5d s' "$1" "$took")")
}
# The installed app in a clean environment, away from the checkout: no venv, no PYTHONPATH, no
# RADIVIEW_RESOURCES, a throwaway HOME and config, so only what the .deb installed can be used.
run_installed() {
    local limit=$1
    shift
    # exec: the subshell becomes timeout itself, so a signal sent to "$!" reaches the app
    (cd "$WORK" && exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$WORK/home" LANG=C.UTF-8 \
        RADIVIEW_CONFIG_DIR="$WORK/config" QT_QPA_PLATFORM=offscreen \
        TORCHVISION_WARN_WHEN_EXTENSION_LOADING_FAILS=1 \
        timeout --kill-after=10 "$limit" "$@")
}
mkdir -p "$WORK/home" "$WORK/config"

if [ -n "$BUILD" ]; then
    step_start "build the bundle and the .deb"
    bash packaging/build_linux.sh || fail "packaging/build_linux.sh failed"
    step_end "build (PyInstaller + deb)"
fi
[ -f "$DEB" ] || fail "$DEB not found (build it, or drop --no-build)"
echo "   .deb: $(du -h "$DEB" | cut -f1)  $DEB"

step_start "install $DEB"
# `dpkg -r` keeps a package's postrm until purge ("config-files" state): purge such leftovers.
case "$(dpkg-query -W -f='${db:Status-Status}' radiview 2>/dev/null || true)" in
    "" | not-installed) ;;
    config-files) $SUDO dpkg --purge radiview >/dev/null ;;
    *) fail "a radiview package is already installed here; remove it first (dpkg --purge radiview)" ;;
esac
installed=1
$SUDO dpkg -i "$DEB" || fail "dpkg -i failed (missing Depends? run: apt-get install -f, or make system-deps)"
step_end "dpkg -i"
echo "   installed size: $(du -sh /opt/radiview | cut -f1)"

step_start "launcher, desktop entry, MIME type"
[ "$(command -v radiview)" = /usr/bin/radiview ] || fail "radiview is not /usr/bin/radiview on PATH"
[ "$(readlink -f /usr/bin/radiview)" = /opt/radiview/radiview ] || fail "/usr/bin/radiview does not lead to /opt/radiview/radiview"
[ -f /usr/share/applications/radiview.desktop ] || fail "no /usr/share/applications/radiview.desktop"
[ -f /usr/share/icons/hicolor/256x256/apps/radiview.png ] || fail "no hicolor icon"
if command -v update-mime-database >/dev/null; then
    grep -q '^[0-9]*:application/dicom:\*\.dcm$' /usr/share/mime/globs2 || fail "*.dcm is not application/dicom after postinst"
fi
if command -v update-desktop-database >/dev/null; then
    grep -q '^application/dicom=.*radiview\.desktop' /usr/share/applications/mimeinfo.cache ||
        fail "application/dicom is not associated with radiview.desktop after postinst"
fi
unreadable=$(find /opt/radiview ! -perm -o=r -print -quit)
[ -z "$unreadable" ] || fail "$unreadable is not readable by other users (a non-root user could not start the app)"
step_end "desktop integration"

step_start "radiview --version"
out=$(run_installed 120 radiview --version 2>&1) || fail "radiview --version exited $?: $out"
echo "   $out"
[[ "$out" == *"$VERSION"* ]] || fail "--version printed '$out', expected $VERSION"
step_end "radiview --version"

step_start "radiview --self-test (installed, offscreen)"
rc=0
run_installed 300 radiview --self-test "${MODEL_ARGS[@]}" > "$WORK/self-test.log" 2>&1 || rc=$?
sed 's/^/   | /' "$WORK/self-test.log"
[ "$rc" -eq 0 ] || fail "radiview --self-test exited $rc"
if grep -q "Failed to load '" "$WORK/self-test.log"; then
    fail "torchvision's C++ ops did not load in the frozen app (see above)"
fi
step_end "radiview --self-test"

step_start "radiview screen (real films + compressed DICOM)"
n_films=$("$PY" packaging/make_ci_films.py "$WORK/films" | tail -n 1)
echo "   $n_films films in $WORK/films"
rc=0
run_installed 600 radiview screen "$WORK/films" --out "$WORK/report.csv" --pdf "$WORK/report.pdf" \
    "${MODEL_ARGS[@]}" > "$WORK/screen.log" 2>&1 || rc=$?
tail -n 15 "$WORK/screen.log" | sed 's/^/   | /'
[ "$rc" -eq 0 ] || fail "radiview screen exited $rc (1 = a film could not be read)"
"$PY" - "$WORK/report.csv" "$n_films" <<'EOF' || fail "the screening CSV is wrong (see above)"
import collections, csv, sys

path, expected = sys.argv[1], int(sys.argv[2])
with open(path, newline="", encoding="utf-8") as fh:
    rows = list(csv.DictReader(fh))
statuses = collections.Counter(row["status"] for row in rows)
print(f"   CSV rows: {len(rows)} (expected {expected}); statuses: {dict(statuses)}")
errors = [f"{row['file']}: {row['message']}" for row in rows if row["status"] == "error"]
for line in errors:
    print(f"   error row: {line}")
ok = len(rows) == expected and not errors and set(statuses) <= {"ok", "refused"} and statuses["ok"] > 0
sys.exit(0 if ok else 1)
EOF
head -c 5 "$WORK/report.pdf" | grep -q '%PDF-' || fail "no PDF report written"
step_end "radiview screen"

step_start "radiview listen (installed): push one film by C-STORE, read its report row"
listen_film=$(ls "$WORK"/films/*.dcm | head -n 1)
listen_port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_installed 600 radiview listen --ae RADIVIEW --port "$listen_port" --host 127.0.0.1 --out "$WORK/listen" \
    --allow CI_SENDER "${MODEL_ARGS[@]}" > "$WORK/listen.log" 2>&1 &
listen_pid=$!
rc=0
"$PY" packaging/ci_push_film.py "$listen_port" RADIVIEW CI_SENDER "$listen_film" "$WORK/listen/report.csv" || rc=$?
# SIGTERM to the app itself (the child of timeout): timeout, when signalled, exits 143 whatever
# the app did; the app must stop cleanly (exit 0) and timeout then passes that on
pkill -TERM -P "$listen_pid" 2>/dev/null || kill -TERM "$listen_pid" 2>/dev/null || true
listen_rc=0
wait "$listen_pid" || listen_rc=$?
tail -n 5 "$WORK/listen.log" | sed 's/^/   | /'
[ "$rc" -eq 0 ] || fail "the pushed film did not reach the listener's report"
[ "$listen_rc" -eq 0 ] || fail "radiview listen did not stop cleanly on SIGTERM (exit $listen_rc)"
step_end "radiview listen"

if command -v xvfb-run >/dev/null && command -v xwininfo >/dev/null; then
    step_start "GUI main window on Xvfb, opening a JPEG 2000 DICOM as a double-click would"
    film="$WORK/films/compressed_j2k.dcm"
    [ -f "$film" ] || film=""
    out=$(bash packaging/gui_ready_time.sh /usr/bin/radiview 180 "$film") || fail "the installed GUI did not show its window"
    echo "   $out"
    step_end "GUI window (${out##* } s)"
else
    echo "== ci_installer_check: GUI window check skipped (needs xvfb-run and xwininfo from x11-utils)"
fi

step_start "dpkg -r radiview, then --purge"
$SUDO dpkg -r radiview >/dev/null || fail "dpkg -r radiview failed"
installed=""
[ ! -e /opt/radiview ] || fail "/opt/radiview is still there after dpkg -r"
[ ! -e /usr/bin/radiview ] || fail "/usr/bin/radiview is still there after dpkg -r"
[ ! -e /usr/share/applications/radiview.desktop ] || fail "the desktop entry is still there after dpkg -r"
$SUDO dpkg --purge radiview >/dev/null || fail "dpkg --purge radiview failed"
[ -z "$(dpkg-query -W radiview 2>/dev/null)" ] || fail "dpkg still lists radiview after --purge"
step_end "dpkg -r, --purge"

echo "== ci_installer_check: PASSED in $(( $(date +%s) - t_all )) s"
printf '   %s\n' "${SUMMARY[@]}"
