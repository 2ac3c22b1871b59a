// Package forceleave implements `tribune force-leave`, Consul's
// `consul force-leave`: it asks the agent to move a member of the cluster
// to the "left" state, with the same flags and output, over the agent's
// Consul-compatible HTTP API.
package forceleave

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

type cmd struct {
	io    command.IO
	http  command.HTTPFlags
	prune bool
	wan   bool
}

// New returns the force-leave command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return `Forces a member of the cluster to enter the "left" state` }

func (c *cmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("force-leave", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&c.prune, "prune", false,
		"Remove agent completely from list of members")
	fs.BoolVar(&c.wan, "wan", false,
		"Exclusively leave the agent from the WAN serf pool.")
	c.http.Register(fs)
	return fs
}

func (c *cmd) Run(ctx context.Context, args []string) int {
	fs := c.flags()
	if code, done := command.Parse(fs, c.io, help, args); done {
		return code
	}
	nodes := fs.Args()
	if len(nodes) != 1 {
		fmt.Fprintln(c.io.Err, "A single node name must be specified to force leave.")
		fmt.Fprintln(c.io.Err)
		fs.Usage()
		return 1
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	// As Consul's, the command prints nothing when the agent accepts.
	if err := cl.Agent().ForceLeaveOptions(nodes[0], api.ForceLeaveOpts{Prune: c.prune, WAN: c.wan}, nil); err != nil {
		fmt.Fprintf(c.io.Err, "Error force leaving: %s\n", err)
		return 1
	}
	return 0
}

const help = `
Usage: tribune force-leave [options] name

  Forces a member of the cluster to enter the "left" state. Note
  that if the member is still actually alive, it will eventually rejoin
  the cluster. This command is most useful for cleaning out "failed" nodes
  that are never coming back. If you do not force leave a failed node,
  the agents will attempt to reconnect to those failed nodes for some
  period of time before eventually reaping them.

  -prune    Remove agent completely from list of members
  -wan      Exclusively leave the agent from the WAN serf pool.
`
