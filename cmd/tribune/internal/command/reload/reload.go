// Package reload implements `tribune reload`, Consul's `consul reload`: it
// asks the agent to read its configuration files again, as SIGHUP does,
// over the agent's Consul-compatible HTTP API.
package reload

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hashicorp/consul/api"

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
	fs.SetOutput(c.io.Err)
	fs.Usage = func() {
		fmt.Fprint(c.io.Err, strings.TrimLeft(help, "\n"))
		fmt.Fprintln(c.io.Err, "\nOptions:")
		fmt.Fprintln(c.io.Err)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if n := fs.NArg(); n > 0 {
		fmt.Fprintf(c.io.Err, "Too many arguments (expected 0, got %d)\n", n)
		return 1
	}

	cl, err := client(ctx, &c.http)
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

// client returns a Consul API client for the agent h names whose requests
// end when ctx does.
func client(ctx context.Context, h *command.HTTPFlags) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = h.Addr
	cfg.Datacenter = h.Datacenter
	cl, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	// NewClient has set cfg.HttpClient (for unix:// addresses too) and the
	// client shares it: bind its requests to ctx, which Agent().Reload does
	// not take.
	cfg.HttpClient.Transport = ctxTransport{ctx: ctx, base: cfg.HttpClient.Transport}
	return cl, nil
}

// ctxTransport sends every request with its context.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}

const help = `
Usage: tribune reload [options]

  Causes the agent to reload configurations. This can be used instead
  of sending the SIGHUP signal to the agent.
`
