#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing, builds, runs the xunit suites, then
# the Pester suites in real pwsh. pwsh and Pester come from the package mirror at pinned versions: pwsh from the
# local tool manifest (.config/dotnet-tools.json), Pester from tools/Pester/Pester.csproj.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/prepare.sh
dotnet tool restore
dotnet restore tools/Pester/Pester.csproj
dotnet build NitroEnclave.slnx -c Release
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test NitroEnclave.slnx -c Release --no-build 2>&1 | tee "$log"
xunit_status=${PIPESTATUS[0]}
dotnet tool run pwsh -NoProfile -NonInteractive -File ./build.ps1 -Task Pester 2>&1 | tee -a "$log"
pester_status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run, summed over the xunit projects and Pester.
awk -F'[:,]' '/^(Passed|Failed)!|^Pester:/ { for (i = 1; i <= NF; i++) { if ($i ~ /Failed$/) f += $(i+1); if ($i ~ /Passed$/) p += $(i+1); if ($i ~ /Skipped$/) s += $(i+1) } }
  END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
[ "$xunit_status" -eq 0 ] && [ "$pester_status" -eq 0 ]
