// Package reload implements `tribune reload`, Consul's `consul reload`: it
// asks the agent to read its configuration files again, as SIGHUP does,
// over the agent's Consul-compatible HTTP API.
package reload

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

// New returns the reload command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Triggers the agent to reload configuration files" }

func (c *cmd) Run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.http.Register(fs)
	if code, done := command.Parse(fs, c.io, help, args); done {
		return code
	}
	if n := fs.NArg(); n > 0 {
		fmt.Fprintf(c.io.Err, "Too many arguments (expected 0, got %d)\n", n)
		return 1
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	if err := cl.Agent().Reload(); err != nil {
		fmt.Fprintf(c.io.Err, "Error reloading: %s\n", err)
		return 1
	}
	fmt.Fprintln(c.io.Out, "Configuration reload triggered")
	return 0
}

const help = `
Usage: tribune reload [options]

  Causes the agent to reload configurations. This can be used instead
  of sending the SIGHUP signal to the agent.
`
