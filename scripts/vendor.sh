#!/usr/bin/env bash
# Fetch the pinned front-end libraries from the npm registry into static/vendor/ (`make vendor`).
# The files are committed, so `make run`, `make test` and collectstatic never need the network;
# run this only to change a version. Each tarball is checked against its pinned sha512 integrity.
set -euo pipefail
cd "$(dirname "$0")/.."

# package version integrity file-in-package file-in-static/vendor
PACKAGES=(
  "plotly.js-basic-dist-min 4.1.1 sha512-1oNF8PeQx2hv/y7tqEVWKD3JGwn/MGEMQ8mL9HUwsaqG9FGy/OU5FHUHvzqbqxN4mnwZGI9abTiE775C4kkjMQ== plotly-basic.min.js plotly-basic.min.js"
  "htmx.org 2.0.11 sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA== dist/htmx.min.js htmx.min.js"
  "axe-core 4.14.1 sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ== axe.min.js axe.min.js"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p static/vendor
{
  echo "# Front-end libraries in this folder, fetched by \`make vendor\` (scripts/vendor.sh) from the npm registry."
  echo "# file  package@version  integrity (sha512 of the npm tarball)  licence"
} > "$work/VERSIONS"
for line in "${PACKAGES[@]}"; do
  read -r name version integrity source target <<< "$line"
  tarball=$(cd "$work" && npm pack --silent "$name@$version" 2>/dev/null | tail -n 1)
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    echo "vendor: $name@$version integrity mismatch: expected $integrity, got $actual" >&2
    exit 1
  fi
  mkdir -p "$work/$name" && tar -xzf "$work/$tarball" -C "$work/$name"
  cp "$work/$name/package/$source" "static/vendor/$target"
  licence=$(node -p "require('$work/$name/package/package.json').license" 2>/dev/null || echo "?")
  echo "$target  $name@$version  $integrity  $licence" >> "$work/VERSIONS"
  echo "vendor: $target <- $name@$version ($(du -k "static/vendor/$target" | cut -f1) KiB)"
done
cp "$work/VERSIONS" static/vendor/VERSIONS
