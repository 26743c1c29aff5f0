#!/usr/bin/env bash
# Build the frozen app (PyInstaller onedir) and wrap it in a Debian package:
#   dist/radiview/                      the bundle (radiview executable + _internal/)
#   dist/radiview_<version>_amd64.deb   installs it under /opt/radiview, /usr/bin/radiview,
#                                       a .desktop entry, icons and the DICOM MIME type
# Usage: bash packaging/build_linux.sh [--cpu-only] [--no-freeze]
#   --cpu-only    drop CUDA libraries torch only opens on a GPU (also RADIVIEW_CPU_ONLY=1)
#   --no-freeze   reuse an existing dist/radiview (only re-package)
# Env: PYTHON (default .venv/bin/python), DEB_COMPRESSION (dpkg-deb -Z type:level, default zstd:1),
#      DIST_DIR / BUILD_DIR (default dist / build: where the bundle, the .deb and the work files go).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
CPU_ONLY=${RADIVIEW_CPU_ONLY:-0}
[ "$CPU_ONLY" = "0" ] && CPU_ONLY=""
FREEZE=1
for arg in "$@"; do
    case "$arg" in
        --cpu-only) CPU_ONLY=1 ;;
        --no-freeze) FREEZE="" ;;
        *) echo "build_linux.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done
# zstd -1 compresses the ~4 GB CUDA bundle several times faster than xz/gzip on 2 cores at a
# similar size (packaging/README.md has the measurements).
COMPRESSION=${DEB_COMPRESSION:-zstd:1}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' radiview/__init__.py)
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
DIST=${DIST_DIR:-dist}
BUILD=${BUILD_DIR:-build}
DEB=$DIST/radiview_${VERSION}_${ARCH}.deb
STAGE=$BUILD/deb/radiview_${VERSION}_${ARCH}

t_all=$(date +%s)
step() { echo "== build_linux: $*"; }
took() { echo "   ($(( $(date +%s) - $1 )) s)"; }

if [ -n "$FREEZE" ]; then
    step "PyInstaller (packaging/radiview.spec${CPU_ONLY:+, --cpu-only})"
    t=$(date +%s)
    spec_args=()
    [ -n "$CPU_ONLY" ] && spec_args=(-- --cpu-only)
    "$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$DIST" --workpath "$BUILD" \
        packaging/radiview.spec "${spec_args[@]}"
    took "$t"
fi
[ -x "$DIST/radiview/radiview" ] || { echo "build_linux: $DIST/radiview/radiview missing (build failed?)" >&2; exit 1; }
echo "   bundle: $(du -shL "$DIST/radiview" | cut -f1)  $DIST/radiview"

step "staging the .deb tree in $STAGE"
t=$(date +%s)
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/mime/packages" "$STAGE/usr/share/icons/hicolor" "$STAGE/usr/share/pixmaps"
# Hard links: the bundle is gigabytes; copying it would cost minutes and disk for nothing.
mkdir "$STAGE/opt/radiview"
cp -al "$DIST/radiview/." "$STAGE/opt/radiview/" 2>/dev/null || cp -a "$DIST/radiview/." "$STAGE/opt/radiview/"
ln -s /opt/radiview/radiview "$STAGE/usr/bin/radiview"
install -m 644 packaging/linux/radiview.desktop "$STAGE/usr/share/applications/radiview.desktop"
install -m 644 packaging/linux/radiview-mime.xml "$STAGE/usr/share/mime/packages/radiview.xml"
install -m 644 resources/icons/radiview.png "$STAGE/usr/share/pixmaps/radiview.png"
"$PY" packaging/make_icon.py --no-redraw --hicolor "$STAGE/usr/share/icons/hicolor" >/dev/null
# Everyone must be able to read the app: PyInstaller keeps source modes, and atomic writes
# (mkstemp) leave files such as the model bundle at 0600.
chmod -R u+rwX,go+rX,go-w "$STAGE/opt/radiview" "$STAGE/usr"
install -m 755 packaging/linux/postinst packaging/linux/postrm "$STAGE/DEBIAN/"
installed_kb=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
# Qt's xcb platform plugin needs these system libraries (the same list as packaging/apt-packages.txt).
cat > "$STAGE/DEBIAN/control" <<EOF
Package: radiview
Version: $VERSION
Architecture: $ARCH
Maintainer: RadiView developers <radiview@users.noreply.github.com>
Installed-Size: $installed_kb
Section: science
Priority: optional
Depends: libc6 (>= 2.28), libgl1, libegl1, libglib2.0-0, libfontconfig1, libfreetype6, libdbus-1-3, libxkbcommon0, libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, libxcb-shape0, libxcb-xinerama0, libxcb-xkb1, libx11-xcb1
Recommends: shared-mime-info, desktop-file-utils
Homepage: https://github.com/radiview/radiview
Description: chest X-ray viewer with an AI second reader (research software)
 RadiView opens chest radiographs (DICOM, PNG, JPEG), shows a MobileNetV3 second
 reader's class probabilities with a Grad-CAM heat map and screens folders of films.
 .
 Research software, not a medical device. Not for diagnosis or clinical decisions.
EOF
took "$t"

step "dpkg-deb -Z${COMPRESSION%%:*} -z${COMPRESSION##*:} -> $DEB"
t=$(date +%s)
rm -f "$DEB"
dpkg-deb --root-owner-group -Z"${COMPRESSION%%:*}" -z"${COMPRESSION##*:}" --build "$STAGE" "$DEB" >/dev/null
took "$t"
rm -rf "$BUILD/deb"

echo "== build_linux: done in $(( $(date +%s) - t_all )) s"
echo "   bundle        $(du -shL "$DIST/radiview" | cut -f1)"
echo "   installed     $(( installed_kb / 1024 )) MiB"
echo "   .deb          $(du -h "$DEB" | cut -f1)  $DEB"
