#!/usr/bin/env bash
# Builds the NestJS peer: `npm ci` from the lockfile, then `tsc` into dist/. Idempotent; does
# nothing when dist/ is newer than src/, the tsconfigs and the lockfile (FORCE=1 builds anyway).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

stamp=dist/.build-stamp
if [[ -z ${FORCE:-} && -f $stamp && -d node_modules ]] &&
  [[ -z $(find src package.json package-lock.json tsconfig.json tsconfig.build.json -newer "$stamp" -print -quit) ]]; then
  echo "nestjs-peer: dist/ is up to date" >&2
  exit 0
fi

# node_modules is installed again only when the lockfile changed since the last install.
if [[ -n ${FORCE:-} || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
rm -rf dist
npm run build
touch "$stamp"
