// Package leave implements `tribune leave`, Consul's `consul leave`: it asks
// the agent to leave the cluster gracefully and shut down, with the same
// output, over the agent's Consul-compatible HTTP API.
package leave

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
}

// New returns the leave command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Gracefully leaves the cluster and shuts down" }

func (c *cmd) Run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("leave", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.http.Register(fs)
	if code, done := command.Parse(fs, c.io, help, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.io.Err, "Error found unexpected args: %v\n", fs.Args())
		fs.Usage()
		return 1
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	if err := cl.Agent().Leave(); err != nil {
		fmt.Fprintf(c.io.Err, "Error leaving: %s\n", err)
		return 1
	}
	fmt.Fprintln(c.io.Out, "Graceful leave complete")
	return 0
}

const help = `
Usage: tribune leave [options]

  Causes the agent to gracefully leave the cluster and shutdown.
`
