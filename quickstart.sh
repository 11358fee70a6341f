#!/usr/bin/env bash
# The main job on a fresh machine: prepare, build, then run examples/quickstart.ps1 in pwsh: the one on PATH, or
# else the pinned one of the local tool manifest (.config/dotnet-tools.json), installed from the package mirror.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/prepare.sh
dotnet build NitroEnclave.slnx -c Release -nologo -v quiet
if command -v pwsh >/dev/null; then
  exec pwsh -NoProfile -File examples/quickstart.ps1 "$@"
fi
dotnet tool restore >/dev/null
exec dotnet tool run pwsh -NoProfile -File examples/quickstart.ps1 "$@"
