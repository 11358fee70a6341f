#!/usr/bin/env bash
# Fetches the photos the detection tests use from Debian packages (apt-get download, no install):
#   darknet: dog.jpg, person.jpg, giraffe.jpg (GPL-3.0+ or MIT or WTFPL); python3-skimage: chelsea.png (BSD-3-Clause).
# They land in tests/cache/photos (not in git). Does nothing when they are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=tests/cache/photos
photos=(dog.jpg person.jpg giraffe.jpg chelsea.png)

missing=0
for photo in "${photos[@]}"; do [ -s "$dest/$photo" ] || missing=1; done
if [ "$missing" = 0 ]; then
  echo "test photos: up to date ($dest)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download darknet python3-skimage >/dev/null 2>&1); then
  apt-get update >/dev/null
  (cd "$work" && apt-get download darknet python3-skimage >/dev/null 2>&1)
fi
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done

mkdir -p "$dest"
for photo in "${photos[@]}"; do
  found=$(find "$work/root" -type f -name "$photo" | sort | head -n 1)
  [ -n "$found" ] || { echo "test photos: $photo not found in the Debian packages" >&2; exit 1; }
  cp "$found" "$dest/$photo.tmp" && mv "$dest/$photo.tmp" "$dest/$photo"
done
echo "test photos: fetched into $dest"
