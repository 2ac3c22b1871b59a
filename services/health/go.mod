module github.com/tribune/tribune/services/health

go 1.26.0

require (
	github.com/tribune/tribune/lib v0.0.0
	github.com/tribune/tribune/sdk/go v0.0.0
	github.com/tribune/tribune/services/registry v0.0.0
)

require (
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261019180522-ce908d29299b // indirect
	google.golang.org/grpc v1.85.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/tribune/tribune/lib => ../../lib
	github.com/tribune/tribune/sdk/go => ../../sdk/go
	github.com/tribune/tribune/services/registry => ../../services/registry
)
