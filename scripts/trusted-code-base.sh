#!/usr/bin/env bash
# Prints the trusted code base section of docs/threat-model.md: every source file the enclave server is built from,
# with its line count. Run it after adding, removing or growing such a file and paste the output between the markers.
set -euo pipefail
cd "$(dirname "$0")/.."
total=0
echo "| File | Lines |"
echo "|---|---|"
for project in src/EnclaveHost src/NitroEnclave.Trusted src/NitroEnclave.Detection; do
  while IFS= read -r file; do
    lines=$(wc -l < "$file")
    total=$((total + lines))
    echo "| \`$file\` | $lines |"
  done < <(find "$project" -name '*.cs' -not -path '*/obj/*' -not -path '*/bin/*' | LC_ALL=C sort)
done
echo "| **Total** | **$total** |"
