// Package services implements `tribune services register|deregister`, the
// service commands of Consul's CLI (`consul services ...`), with the same
// flags and output, over the agent's Consul-compatible HTTP API.
package services

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

// subcommand is one of register and deregister.
type subcommand interface {
	// flags returns a new flag set bound to the subcommand's fields.
	flags() *flag.FlagSet
	// run runs the subcommand with its positional arguments.
	run(ctx context.Context, args []string) int
	synopsis() string
	help() string
}

type cmd struct{ io command.IO }

// New returns the services command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Interact with services" }

func (c *cmd) subcommands() map[string]subcommand {
	return map[string]subcommand{
		"register":   &registerCmd{io: c.io},
		"deregister": &deregisterCmd{io: c.io},
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
	fmt.Fprint(c.io.Err, `Usage: tribune services <subcommand> [options] [args]

  This command has subcommands for interacting with services. The subcommands
  default to working with services registered with the local agent. Please see
  the "tribune catalog" command for interacting with the entire catalog.

  Register a service from a JSON service definition file:

      $ tribune services register web.json

  Or from flags:

      $ tribune services register -name=web -port=8080 -tag=v1

  Deregister it:

      $ tribune services deregister -id=web

  For more examples, ask for subcommand help or view the documentation.

Subcommands:
`)
	for _, name := range []string{"deregister", "register"} {
		fmt.Fprintf(c.io.Err, "    %-12s %s\n", name, c.subcommands()[name].synopsis())
	}
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
	// client shares it: bind its requests to ctx, which the agent methods
	// without a context variant (ServiceRegister, ServiceDeregister) lack.
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

// newFlagSet returns an empty flag set that reports errors instead of
// exiting.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// mapValue is a repeatable key=value flag, as Consul's -meta and
// -tagged-address. Its error keeps Consul's capitalised wording.
type mapValue map[string]string

var _ flag.Value = (*mapValue)(nil)

func (m *mapValue) String() string {
	if m == nil {
		return fmt.Sprintf("%v", map[string]string(nil))
	}
	return fmt.Sprintf("%v", map[string]string(*m))
}

func (m *mapValue) Set(v string) error {
	key, value, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("Missing \"=\" value in argument: %s", v)
	}
	if *m == nil {
		*m = mapValue{}
	}
	(*m)[key] = value
	return nil
}

// sliceValue is a repeatable flag collecting its values in order, as
// Consul's -tag.
type sliceValue []string

var _ flag.Value = (*sliceValue)(nil)

func (s *sliceValue) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, ",")
}

func (s *sliceValue) Set(v string) error {
	*s = append(*s, v)
	return nil
}
