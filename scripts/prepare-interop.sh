#!/usr/bin/env bash
# Installs the official AWS Encryption SDK for JavaScript, pinned by tests/interop/esdk-node/package-lock.json, for the
# interoperability tests (EnclaveFileInteropTests). Safe to run again: nothing is done while the installed packages
# match the lock file.
set -euo pipefail
cd "$(dirname "$0")/../tests/interop/esdk-node"
command -v node >/dev/null || { echo "Node.js 18 or later is required (node on PATH) for the interoperability tests." >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required for the interoperability tests (apt-get install npm)." >&2; exit 1; }
if cmp -s package-lock.json node_modules/.installed-package-lock.json; then
  echo "AWS Encryption SDK for JavaScript: up to date (tests/interop/esdk-node)"
  exit 0
fi

npm ci --ignore-scripts --no-audit --no-fund
cp package-lock.json node_modules/.installed-package-lock.json
