#!/bin/sh
#
# Regenerates the committed seed corpus (tests/fuzz/corpus/) from
# mkcorpus.c.  Run from anywhere; needs a C compiler ($CC, default cc).
#
set -eu

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dpinger-mkcorpus.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -o "$tmp/mkcorpus" "$here/mkcorpus.c"
mkdir "$tmp/corpus"
"$tmp/mkcorpus" "$tmp/corpus"
rm -rf "$here/corpus"
mv "$tmp/corpus" "$here/corpus"
for d in "$here"/corpus/*/; do
	echo "$(basename "$d"): $(find "$d" -type f | wc -l) inputs"
done
