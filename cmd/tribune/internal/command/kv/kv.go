// Package kv implements `tribune kv get|put|delete`, the key/value commands
// of Consul's CLI (`consul kv ...`), with the same flags and output, over
// the agent's Consul-compatible HTTP API.
package kv

import (
	"strings"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// New returns the kv command.
func New(io command.IO) command.Command {
	return &command.Family{
		IO: io, Name: "kv", Summary: "Interact with the key-value store", Intro: intro, NoArgs: false,
		Subcommands: map[string]command.Subcommand{
			"get":    &getCmd{io: io},
			"put":    &putCmd{io: io},
			"delete": &deleteCmd{io: io},
		},
	}
}

const intro = `
  This command has subcommands for interacting with the key-value store.
  Here are some simple examples:

  Create or update the key named "redis/config/connections" with the value "5":

      $ tribune kv put redis/config/connections 5

  Read this value back:

      $ tribune kv get redis/config/connections

  Or get detailed key information:

      $ tribune kv get -detailed redis/config/connections

  Finally, delete the key:

      $ tribune kv delete redis/config/connections
`

// trimKey strips a leading "/" as Consul's CLI does: keys cannot start
// with one, but users type "/" or "/foo".
func trimKey(key string) string { return strings.TrimPrefix(key, "/") }
