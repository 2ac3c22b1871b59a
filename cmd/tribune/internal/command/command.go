// Package command holds what every CLI command shares: its streams, the
// interface it implements, and the HTTP address flags of client commands.
package command

import (
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"sort"

	"github.com/hashicorp/consul/api"
)

// IO is a command's standard streams, injectable for tests.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Command is one CLI command.
type Command interface {
	// Run runs the command with its arguments (after the command's name)
	// and returns the process's exit code.
	Run(ctx context.Context, args []string) int
	// Synopsis is the one line the command list shows.
	Synopsis() string
}

// Factory makes a command writing to io.
type Factory func(io IO) Command

// DefaultHTTPAddr is the agent's HTTP address when neither -http-addr nor
// CONSUL_HTTP_ADDR says otherwise.
const DefaultHTTPAddr = "127.0.0.1:8500"

// HTTPFlags are the flags of commands that talk to an agent's HTTP API.
type HTTPFlags struct {
	Addr       string
	Datacenter string
	Stale      bool
}

// Register adds the flags to fs. The address defaults to
// $CONSUL_HTTP_ADDR (then $TRIBUNE_HTTP_ADDR), as Consul's CLI does.
func (h *HTTPFlags) Register(fs *flag.FlagSet) {
	def := DefaultHTTPAddr
	if v := os.Getenv("TRIBUNE_HTTP_ADDR"); v != "" {
		def = v
	}
	if v := os.Getenv("CONSUL_HTTP_ADDR"); v != "" {
		def = v
	}
	fs.StringVar(&h.Addr, "http-addr", def,
		"The address of the agent's HTTP API (also CONSUL_HTTP_ADDR).")
	fs.StringVar(&h.Datacenter, "datacenter", "", "The datacenter to query; the agent's by default.")
	fs.BoolVar(&h.Stale, "stale", false, "Permit any server, not only the leader, to answer a read.")
}

// Client returns a Consul API client for the agent the flags name, whose
// requests end when ctx does (some of the API's calls take no context).
func (h *HTTPFlags) Client(ctx context.Context) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = h.Addr
	cfg.Datacenter = h.Datacenter
	cl, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	// NewClient has set cfg.HttpClient (for unix:// addresses too) and the
	// client shares it: bind its requests to ctx.
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

func sortStrings(s []string) { sort.Strings(s) }
