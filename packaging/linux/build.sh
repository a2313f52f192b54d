#!/usr/bin/env bash
# Package the PyInstaller bundle (dist/hermes-studio) as a .deb and a portable .tar.gz.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
VERSION=$($PY -c "import app; print(app.__version__)")
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
BUNDLE=dist/hermes-studio
[ -x "$BUNDLE/hermes-studio" ] || { echo "no bundle at $BUNDLE: run pyinstaller first" >&2; exit 1; }

tar -C dist -czf "dist/hermes-studio-$VERSION-linux-$ARCH.tar.gz" hermes-studio
echo "dist/hermes-studio-$VERSION-linux-$ARCH.tar.gz"

command -v dpkg-deb >/dev/null || { echo "dpkg-deb not found: skipping the .deb" >&2; exit 0; }
ROOT=build/deb/hermes-studio_${VERSION}_${ARCH}
rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN" "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/usr/share/applications" \
         "$ROOT/usr/share/icons/hicolor/scalable/apps" "$ROOT/usr/share/mime/packages"
cp -a "$BUNDLE" "$ROOT/opt/hermes-studio"
cat > "$ROOT/usr/bin/hermes-studio" <<'SH'
#!/bin/sh
exec /opt/hermes-studio/hermes-studio "$@"
SH
chmod 755 "$ROOT/usr/bin/hermes-studio"
install -m 644 packaging/linux/hermes-studio.desktop "$ROOT/usr/share/applications/hermes-studio.desktop"
install -m 644 resources/icons/hermes-studio.svg "$ROOT/usr/share/icons/hicolor/scalable/apps/hermes-studio.svg"
install -m 644 packaging/linux/hermes-studio-mime.xml "$ROOT/usr/share/mime/packages/hermes-studio.xml"
SIZE=$(du -sk "$ROOT" | cut -f1)
# The oldest glibc the bundle runs on: the newest GLIBC_x.y symbol version any of its ELF files asks for
# (a bundle built on a newer distribution asks for more than PySide6's own 2.34).
GLIBC_MIN=2.34
if command -v objdump >/dev/null; then
  NEEDED=$(find "$BUNDLE" -type f \( -name '*.so*' -o -perm -u+x \) -print0 | xargs -0 objdump -T 2>/dev/null \
           | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -1 || true)
  GLIBC_MIN=$(printf '%s\n%s\n' "$GLIBC_MIN" "${NEEDED:-0}" | sort -V | tail -1)
else
  echo "objdump not found: assuming glibc >= $GLIBC_MIN" >&2
fi
echo "needs glibc >= $GLIBC_MIN"
# A build with llama.cpp's Vulkan module (release.yml) uses the GPU through the system's Vulkan loader and driver.
RECOMMENDS=""
if [ -n "$(find "$BUNDLE" -name 'libggml-vulkan*.so*' -print -quit)" ]; then RECOMMENDS="Recommends: libvulkan1"; fi
cat > "$ROOT/DEBIAN/control" <<CONTROL
Package: hermes-studio
Version: $VERSION
Architecture: $ARCH
Maintainer: Hermes Studio developers <hermes-studio@users.noreply.github.com>
Installed-Size: $SIZE
Depends: libc6 (>= $GLIBC_MIN), libegl1, libgl1, libfontconfig1, libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-image0, libxcb-render-util0, libxcb-shape0, libxcb-randr0, libxcb-xkb1
${RECOMMENDS:+$RECOMMENDS
}Section: utils
Priority: optional
Homepage: https://github.com/hermes-studio/hermes-studio
Description: Chat with local LLMs (GGUF via llama.cpp)
 Hermes Studio is a desktop chat application for local language models:
 load a GGUF model, pick a persona, and chat while replies stream in.
 Models and chats live in your user data folder and survive upgrades.
CONTROL
cat > "$ROOT/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
command -v update-desktop-database >/dev/null && update-desktop-database -q /usr/share/applications || true
command -v update-mime-database >/dev/null && update-mime-database /usr/share/mime || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
SH
cp "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/postrm"
chmod 755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/postrm"
dpkg-deb --build --root-owner-group "$ROOT" "dist/hermes-studio_${VERSION}_${ARCH}.deb" >/dev/null
echo "dist/hermes-studio_${VERSION}_${ARCH}.deb"
