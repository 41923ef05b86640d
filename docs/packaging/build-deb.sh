#!/bin/sh
# build-deb.sh [OUTDIR]: builds spillway (with its version, VCS revision and
# build date for -V) and the Debian package spillway_VERSION_ARCH.deb into
# OUTDIR (default dist/) with nfpm, which runs as a Go tool at a pinned
# version (downloaded through the Go module proxy on first use).
set -eu
cd "$(dirname "$0")/../.."
out=${1:-dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
version=${SPILLWAY_VERSION:-0.1.0}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then revision=$revision+modified; fi
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-X main.version=$version -X main.revision=$revision -X main.buildDate=$date" \
	-o "$out/spillway" ./cmd/spillway
sed "s|@BINARY@|$out/spillway|" docs/packaging/nfpm.yaml >"$out/nfpm.yaml"
SPILLWAY_VERSION="$version" SPILLWAY_ARCH="$(go env GOARCH)" \
	go run "$NFPM" pkg --packager deb --config "$out/nfpm.yaml" --target "$out/"
ls "$out"/spillway_*.deb
