#!/usr/bin/env bash
# Every relative link in the repository's Markdown points at a file a clone has: the README and
# the docs are read on a fresh checkout, where nothing outside the repository exists.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
while IFS= read -r file; do
  # [text](target): targets without a scheme or a leading #, anchors and titles cut off.
  while IFS= read -r target; do
    path=${target%%#*}
    [[ -z $path || $path =~ ^[a-z]+: ]] && continue
    if [[ ! -e "$(dirname "$file")/$path" ]]; then
      echo "$file: broken link to $target"
      status=1
    fi
  done < <(grep -o '\]([^)[:space:]]*' "$file" | sed 's/^](//')
done < <(git ls-files '*.md')
exit "$status"
