module github.com/tribune/tribune/services/kv

go 1.26.0

require (
	github.com/tribune/tribune/lib v0.0.0
	github.com/tribune/tribune/sdk/go v0.0.0
)

require (
	github.com/google/btree v1.1.3 // indirect
	google.golang.org/genproto v0.0.0-20261026165753-2ffab32bce7e // indirect
)

replace (
	github.com/tribune/tribune/lib => ../../lib
	github.com/tribune/tribune/sdk/go => ../../sdk/go
)
