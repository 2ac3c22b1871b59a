// Package join implements `tribune join`, Consul's `consul join`: it asks
// the agent to join the cluster through one or more of its members, with
// the same flags and output, over the agent's Consul-compatible HTTP API.
package join

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

type cmd struct {
	io   command.IO
	http command.HTTPFlags
	wan  bool
}

// New returns the join command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Tell the agent to join a cluster" }

func (c *cmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("join", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&c.wan, "wan", false,
		"Joins a server to another server in the WAN pool.")
	c.http.Register(fs)
	return fs
}

func (c *cmd) Run(ctx context.Context, args []string) int {
	fs := c.flags()
	if code, done := command.Parse(fs, c.io, help, args); done {
		return code
	}
	addrs := fs.Args()
	if len(addrs) == 0 {
		fmt.Fprintln(c.io.Err, "At least one address to join must be specified.")
		fmt.Fprintln(c.io.Err)
		fs.Usage()
		return 1
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	joins := 0
	for _, addr := range addrs {
		if err := cl.Agent().Join(addr, c.wan); err != nil {
			fmt.Fprintf(c.io.Err, "Error joining address '%s': %s\n", addr, err)
			continue
		}
		joins++
	}
	if joins == 0 {
		fmt.Fprintln(c.io.Err, "Failed to join any nodes.")
		return 1
	}
	fmt.Fprintf(c.io.Out, "Successfully joined cluster by contacting %d nodes.\n", joins)
	return 0
}

const help = `
Usage: tribune join [options] address ...

  Tells a running agent (with "tribune agent") to join the cluster
  by specifying at least one existing member. Each address is a
  member's gossip address, host or host:port (the LAN port by default,
  the WAN port with -wan). It exits 1 when no address could be joined.

      $ tribune join 10.0.1.5
      $ tribune join -wan dc2-server-1.example.com:8302
`
