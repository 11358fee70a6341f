#!/usr/bin/env bash
# The main job on a fresh machine: prepare, build, then run examples/quickstart.ps1 in pwsh when it is installed,
# otherwise in the PowerShell engine hosted by tools/NitroEnclave.ScriptHost.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/prepare.sh
dotnet build NitroEnclave.slnx -c Release -nologo -v quiet
if command -v pwsh >/dev/null; then
  exec pwsh -NoProfile -File examples/quickstart.ps1 "$@"
fi
exec dotnet tools/NitroEnclave.ScriptHost/bin/Release/net10.0/NitroEnclave.ScriptHost.dll examples/quickstart.ps1 "$@"
