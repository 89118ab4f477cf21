#!/usr/bin/env bash
# The browser of the dashboard's test (tests/test_live_dashboard.py): Debian's Chromium
# and its WebDriver, installed with apt. Selenium (requirements.txt) drives them; it
# downloads nothing itself (the test names /usr/bin/chromium and /usr/bin/chromedriver).
#
#   bash tests/browser/install_chromium.sh     (as root; CI runs it before the tests)
#
# Without them the browser test is skipped on a student's machine, with one line that
# names the packages; under CI (CI=true) a missing browser fails the test.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "error: tests/browser/install_chromium.sh installs Debian packages. Fix: run it as root (sudo bash tests/browser/install_chromium.sh)" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "error: no apt-get: install Chromium and its driver (chromedriver) with your system's packages" >&2; exit 1; }

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
  echo "chromium and chromium-driver: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
  exit 0
fi
echo "apt-get install ${missing[*]} (Debian's headless-capable Chromium and its WebDriver, for the dashboard's browser test) ..."
log=$(mktemp)
if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } > "$log" 2>&1; then
  tail -n 20 "$log" >&2
  rm -f "$log"
  echo "error: apt-get install ${missing[*]} failed (log above)" >&2
  exit 1
fi
rm -f "$log"
echo "installed: $(/usr/bin/chromium --version 2>/dev/null), $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
