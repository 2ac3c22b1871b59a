#!/usr/bin/env bash
# Runs the whole test suite: every package of every module in go.work.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -count=1 -timeout 15m "$@" github.com/tribune/tribune/...
