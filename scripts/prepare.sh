#!/usr/bin/env bash
# Installs the project's prerequisites that are not NuGet packages. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "The .NET 10 SDK is required (dotnet on PATH)." >&2; exit 1; }
