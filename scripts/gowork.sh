#!/usr/bin/env bash
# Writes go.work over every module of the repository (tools/ stays out: its
# pinned generators must not move the versions the services build with).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f go.work
go work init
find . -name go.mod -not -path './tools/*' -not -path './.bin/*' -printf '%h\n' | sort | xargs go work use
