#!/usr/bin/env bash
# Cold start of the GUI to a shown main window, measured from outside the app:
#   bash packaging/gui_ready_time.sh [EXECUTABLE] [TIMEOUT_S] [FILE]   (default: radiview on PATH, 180 s)
# Starts EXECUTABLE on a private Xvfb display with a fresh config folder (research notice
# already acknowledged, so no first-run dialog), polls the X server until a top-level window whose
# title carries the main window's notice appears, prints "gui-ready-s <seconds>" and closes the app.
# With FILE, the app is started as a double-click would (`radiview FILE`) and the window title must
# also name the file.
# Exit: 0 window shown; 1 the app died or no window within TIMEOUT_S; 3 Xvfb/xwininfo missing.
set -euo pipefail
EXE=${1:-radiview}
LIMIT=${2:-180}
FILE=${3:-}
TITLE="not for diagnosis"  # radiview.gui.main_window.TITLE_NOTICE (the first-run dialog lacks it)

if [ -z "${DISPLAY:-}" ] || [ -z "${_RADIVIEW_GUI_XVFB:-}" ]; then
    command -v xvfb-run >/dev/null && command -v xwininfo >/dev/null || {
        echo "gui_ready_time: needs xvfb-run (xvfb) and xwininfo (x11-utils)" >&2; exit 3; }
    export _RADIVIEW_GUI_XVFB=1
    exec xvfb-run -a -s "-screen 0 1600x1000x24" bash "$0" "$@"
fi

config=$(mktemp -d)
trap 'rm -rf "$config"' EXIT
printf '{"notice_acknowledged": true}\n' > "$config/settings.json"

start=$(date +%s.%N)
args=()
[ -n "$FILE" ] && args=("$FILE")
RADIVIEW_CONFIG_DIR="$config" QT_QPA_PLATFORM=xcb "$EXE" "${args[@]}" > "$config/app.log" 2>&1 &
pid=$!
shown=""
while :; do
    if xwininfo -root -tree 2>/dev/null | grep -i "$TITLE" | grep -qF "${FILE##*/}"; then shown=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    awk -v s="$start" -v now="$(date +%s.%N)" -v lim="$LIMIT" 'BEGIN { exit !(now - s > lim) }' && break
    sleep 0.1
done
elapsed=$(awk -v s="$start" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - s }')
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [ -z "$shown" ]; then
    echo "gui_ready_time: no RadiView window${FILE:+ showing ${FILE##*/}} after ${elapsed} s; app output:" >&2
    tail -n 40 "$config/app.log" >&2
    exit 1
fi
echo "gui-ready-s $elapsed"
