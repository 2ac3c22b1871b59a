#!/usr/bin/env bash
# Regenerates sdk/go from proto/ with buf and the plugins pinned in tools/go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.bin"
mkdir -p "$bin"
GOWORK=off go -C tools build -o "$bin/" \
  github.com/bufbuild/buf/cmd/buf \
  google.golang.org/protobuf/cmd/protoc-gen-go \
  google.golang.org/grpc/cmd/protoc-gen-go-grpc \
  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2
export PATH="$bin:$PATH"
# Remove what an earlier run generated, keeping the module's own files.
find sdk/go -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' | xargs -r rm -f
buf generate
buf lint
