#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing, builds, tests.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/prepare.sh
dotnet test NitroEnclave.slnx -c Release
