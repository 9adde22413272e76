#!/usr/bin/env bash
# Vendors GraphiQL and production React into gateway/assets/graphiql/, which the gateway embeds
# in its binary and serves (gateway/src/graphiql.rs): GraphiQL at GET /graphql works with no
# internet.
#
# `scripts/vendor-graphiql.sh` downloads each pinned package with npm (`npm pack`, from the
# configured registry), checks its tarball against the sha512 integrity pinned below and
# against the registry's own metadata (`npm view <package> dist.integrity`), and copies out the
# files the page uses and the package's LICENSE. Running it again on the same pins gives the
# same files. To move to another version: change a pin, and its integrity to what
# `npm view <package>@<version> dist.integrity` prints, run this, and update
# gateway/assets/graphiql/README.md.
#
# GraphiQL stays on 4.x: GraphiQL 5 ships no self-contained browser build (ESM and Monaco only),
# 4.x has a UMD build over React 18 that needs nothing else.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST=gateway/assets/graphiql

# package@version | sha512 integrity of its tarball | files: path in the package => name here
PINS=(
  "graphiql@4.1.2|sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg==|graphiql.min.js=>graphiql.min.js graphiql.min.css=>graphiql.min.css LICENSE=>LICENSE.graphiql"
  "react@18.3.1|sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==|umd/react.production.min.js=>react.production.min.js LICENSE=>LICENSE.react"
  "react-dom@18.3.1|sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==|umd/react-dom.production.min.js=>react-dom.production.min.js LICENSE=>LICENSE.react-dom"
)

say() { printf 'vendor-graphiql: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

command -v npm >/dev/null || die "npm is needed"
command -v node >/dev/null || die "node is needed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vendor-graphiql.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The sha512 integrity (SRI form, as npm writes it) of a file.
integrity_of() {
  node -e 'const c = require("crypto"), fs = require("fs");
    process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"));' "$1"
}

mkdir -p "$DEST"
for pin in "${PINS[@]}"; do
  IFS='|' read -r spec pinned files <<<"$pin"
  registry=$(npm view "$spec" dist.integrity)
  [[ $registry == "$pinned" ]] || die "$spec: the registry says $registry, the pin says $pinned"
  tarball=$(cd "$WORK" && npm pack "$spec" --silent --pack-destination "$WORK")
  actual=$(integrity_of "$WORK/$tarball")
  [[ $actual == "$pinned" ]] || die "$spec: the tarball is $actual, the pin says $pinned"
  say "$spec: $actual (matches the pin and the registry)"
  unpacked=$WORK/${spec%@*}
  mkdir -p "$unpacked"
  tar -xzf "$WORK/$tarball" -C "$unpacked"
  for mapping in $files; do
    from=${mapping%%=>*} to=${mapping##*=>}
    [[ -f $unpacked/package/$from ]] || die "$spec has no $from"
    install -m 0644 "$unpacked/package/$from" "$DEST/$to"
    say "  $from -> $DEST/$to ($(wc -c <"$DEST/$to") bytes)"
  done
done

# The stylesheet must not fetch anything at run time: every url() in it is a data: URL (its
# fonts and images are inlined), and it imports nothing.
css=$DEST/graphiql.min.css
urls=$(grep -oE 'url\(' "$css" | wc -l)
data_urls=$(grep -oE 'url\(\s*["'\'']?data:' "$css" | wc -l)
((urls == data_urls)) || die "graphiql.min.css has $((urls - data_urls)) url()s that are not data: URLs"
! grep -q '@import' "$css" || die "graphiql.min.css has an @import"
say "done; sha256 of what is vendored:"
(cd "$DEST" && sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js) >&2
