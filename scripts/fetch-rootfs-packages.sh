#!/usr/bin/env bash
# Lays out the system files of the reproducible enclave image's root (the loader, glibc, libstdc++, libgcc_s, OpenSSL,
# the CA bundle) in out/rootfs/linux-x64 from the Debian packages pinned in enclave/rootfs-packages.txt: apt-get
# download name=version (no install), the .deb's SHA-256 checked against the pin, only the listed files copied (a
# symbolic link as the file it names). The manifest is copied to the folder's rootfs-packages.txt, which
# New-EnclaveImage records in the image's metadata. Does nothing when the folder already matches the manifest.
# The pinned versions must be in the apt index: run apt-get update once on a fresh machine (done here when a download
# fails); a version the mirror no longer carries is still on snapshot.debian.org, under the same file name.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=enclave/rootfs-packages.txt
dest=out/rootfs/linux-x64

if [ -f "$dest/rootfs-packages.txt" ] && cmp -s "$manifest" "$dest/rootfs-packages.txt"; then
  echo "enclave rootfs: up to date ($dest)"
  exit 0
fi

for tool in apt-get dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || { echo "enclave rootfs: $tool is required (a Debian or Ubuntu machine)." >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t pins < <(grep -v '^[[:space:]]*\(#\|$\)' "$manifest")

download() { (cd "$work" && apt-get download "${@}" >/dev/null 2>&1); }
specs=()
for pin in "${pins[@]}"; do
  read -r name version _ <<<"$pin"
  specs+=("$name=$version")
done
if ! download "${specs[@]}"; then
  apt-get update >/dev/null
  download "${specs[@]}" || { echo "enclave rootfs: apt-get download ${specs[*]} failed (a pinned version may have left the mirror: take it from snapshot.debian.org, or update the pin)." >&2; exit 1; }
fi

# A path inside an extracted package, with symbolic links (absolute ones relative to the package root) followed.
resolve() {
  local root=$1 path=$2 target hops=0
  while [ -L "$root/$path" ]; do
    target=$(readlink "$root/$path")
    case "$target" in
      /*) path=${target#/} ;;
      *) path=$(dirname "$path")/$target ;;
    esac
    hops=$((hops + 1))
    [ "$hops" -le 8 ] || { echo "enclave rootfs: too many links at $2" >&2; exit 1; }
  done
  echo "$root/$path"
}

staging="$work/rootfs"
mkdir -p "$staging"
for pin in "${pins[@]}"; do
  read -r name version sha256 files <<<"$pin"
  # apt-get download names the file name_version_arch.deb, with the epoch's colon escaped as %3a.
  deb=$(find "$work" -maxdepth 1 -name "${name}_*.deb" | head -n 1)
  [ -n "$deb" ] || { echo "enclave rootfs: $name was not downloaded" >&2; exit 1; }
  actual=$(sha256sum "$deb" | cut -d' ' -f1)
  [ "$actual" = "$sha256" ] || { echo "enclave rootfs: $(basename "$deb") has SHA-256 $actual, the pin says $sha256" >&2; exit 1; }
  [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || { echo "enclave rootfs: $(basename "$deb") is not version $version" >&2; exit 1; }
  root="$work/pkg-$name"
  dpkg-deb -x "$deb" "$root"
  for file in $files; do
    mkdir -p "$staging/$(dirname "$file")"
    if [ "$name" = ca-certificates ] && [ "$file" = etc/ssl/certs/ca-certificates.crt ]; then
      # What update-ca-certificates builds at install time: every certificate, each ending in a newline.
      find "$root/usr/share/ca-certificates" -name '*.crt' -printf '%P\n' | LC_ALL=C sort | while read -r crt; do
        sed -e '$a\' "$root/usr/share/ca-certificates/$crt"
      done >"$staging/$file"
      [ -s "$staging/$file" ] || { echo "enclave rootfs: no certificates in $(basename "$deb")" >&2; exit 1; }
      continue
    fi
    source=$(resolve "$root" "$file")
    [ -f "$source" ] || { echo "enclave rootfs: $(basename "$deb") has no $file" >&2; exit 1; }
    cp "$source" "$staging/$file"
  done
done
cp "$manifest" "$staging/rootfs-packages.txt"

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$staging" "$dest"
echo "enclave rootfs: ${#pins[@]} packages laid out in $dest"
