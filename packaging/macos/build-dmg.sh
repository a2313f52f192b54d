#!/usr/bin/env bash
# Wrap the PyInstaller .app (dist/Hermes Studio.app) in a compressed .dmg with an Applications link.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
VERSION=$($PY -c "import app; print(app.__version__)")
ARCH=$(uname -m)   # arm64 (Apple Silicon) or x86_64 (Intel): each runner builds its own
APP="dist/Hermes Studio.app"
[ -d "$APP" ] || { echo "no $APP: run pyinstaller first" >&2; exit 1; }
STAGE=build/dmg
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "Hermes Studio" -srcfolder "$STAGE" -ov -format UDZO "dist/HermesStudio-$VERSION-macos-$ARCH.dmg"
echo "dist/HermesStudio-$VERSION-macos-$ARCH.dmg"
