// Package kv implements `tribune kv get|put|delete`, the key/value commands
// of Consul's CLI (`consul kv ...`), with the same flags and output, over
// the agent's Consul-compatible HTTP API.
package kv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// subcommand is one of get, put and delete.
type subcommand interface {
	// flags returns a new flag set bound to the subcommand's fields.
	flags() *flag.FlagSet
	// run runs the subcommand with its positional arguments.
	run(ctx context.Context, args []string) int
	synopsis() string
	help() string
}

type cmd struct{ io command.IO }

// New returns the kv command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Interact with the key-value store" }

func (c *cmd) subcommands() map[string]subcommand {
	return map[string]subcommand{
		"get":    &getCmd{io: c.io},
		"put":    &putCmd{io: c.io},
		"delete": &deleteCmd{io: c.io},
	}
}

func (c *cmd) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage()
		return 1
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		c.usage()
		return 0
	}
	sub, ok := c.subcommands()[args[0]]
	if !ok {
		fmt.Fprintf(c.io.Err, "Unknown subcommand: %q\n\n", args[0])
		c.usage()
		return 1
	}
	fs := sub.flags()
	fs.SetOutput(c.io.Err)
	fs.Usage = func() {
		fmt.Fprint(c.io.Err, strings.TrimLeft(sub.help(), "\n"))
		fmt.Fprintln(c.io.Err, "\nOptions:")
		fmt.Fprintln(c.io.Err)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	return sub.run(ctx, fs.Args())
}

func (c *cmd) usage() {
	fmt.Fprint(c.io.Err, `Usage: tribune kv <subcommand> [options] [args]

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

Subcommands:
`)
	for _, name := range []string{"delete", "get", "put"} {
		fmt.Fprintf(c.io.Err, "    %-10s %s\n", name, c.subcommands()[name].synopsis())
	}
}

// client returns a Consul API client for the agent h names.
func client(h *command.HTTPFlags) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = h.Addr
	cfg.Datacenter = h.Datacenter
	return api.NewClient(cfg)
}

// trimKey strips a leading "/" as Consul's CLI does: keys cannot start
// with one, but users type "/" or "/foo".
func trimKey(key string) string { return strings.TrimPrefix(key, "/") }

// newFlagSet returns an empty flag set that reports errors instead of
// exiting.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
