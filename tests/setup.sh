#!/usr/bin/env bash
# Set up what the test suite needs on a fresh Debian/Ubuntu machine, as root or as a user with sudo:
# Debian's Chromium (the browser test drives it; Playwright's own browser download cannot work offline),
# a virtual environment with requirements.txt, and the test-only dependency MMSA 2.2.1 without its heavy
# dependencies (tests build MMSA's own MFM from its model files to check the importer against it).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "tests/setup.sh: Chromium is missing and this user can neither install it (not root) nor use sudo." >&2
    exit 1
  fi
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq chromium >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q -r requirements.txt
.venv/bin/pip install -q --no-deps -r tests/requirements-nodeps.txt
