// Package demoservice implements `tribune demo-service`: a tiny HTTP
// service that registers itself with its local agent, with an HTTP check on
// its health path, and deregisters when it stops. It is what the
// containerised demo (deploy/) runs beside each client agent, so the
// catalog shows a real service whose health the agent probes.
package demoservice

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
	"github.com/tribune/tribune/lib/logging"
)

// Config is the demo service's configuration.
type Config struct {
	// Name is the service's name in the catalog.
	Name string
	// ID is the service's ID on its agent; Name by default.
	ID string
	// Tags are the service's tags.
	Tags []string
	// Listen is the address the HTTP server listens on (host:port).
	Listen string
	// Address is the service's address in the catalog; empty means the
	// agent's node address, as in Consul.
	Address string
	// HealthPath is the path that answers 200 while the service is up.
	HealthPath string
	// CheckInterval is how often the agent probes the health path.
	CheckInterval time.Duration
	// RegisterRetry is how often registration is retried while the agent
	// does not answer (it may start after the service).
	RegisterRetry time.Duration
	// StopTimeout bounds the deregistration and the HTTP server's
	// shutdown at exit.
	StopTimeout time.Duration
}

// DefaultConfig returns the defaults: a service "web" on port 8080.
func DefaultConfig() Config {
	return Config{
		Name:          "web",
		Listen:        "0.0.0.0:8080",
		HealthPath:    "/health",
		CheckInterval: 5 * time.Second, // Consul's examples use 10s; 5s shows a change sooner in a demo.
		RegisterRetry: time.Second,
		StopTimeout:   5 * time.Second,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("demo-service: a name is required")
	case !strings.HasPrefix(c.HealthPath, "/"):
		return fmt.Errorf("demo-service: health path %q must start with /", c.HealthPath)
	case c.CheckInterval <= 0 || c.RegisterRetry <= 0 || c.StopTimeout <= 0:
		return errors.New("demo-service: intervals and timeouts must be positive")
	}
	if _, _, err := listenParts(c.Listen); err != nil {
		return fmt.Errorf("demo-service: listen address: %w", err)
	}
	return nil
}

// Agent is the part of the local agent's API the service uses; *api.Agent
// implements it. Its methods may be called from several goroutines.
type Agent interface {
	ServiceRegister(reg *api.AgentServiceRegistration) error
	ServiceDeregisterOpts(id string, q *api.QueryOptions) error
}

var _ Agent = (*api.Agent)(nil)

// Run serves until ctx ends: it listens, registers with agent (retrying
// until the agent answers), then at the end deregisters and shuts the
// server down, each bounded by StopTimeout.
func Run(ctx context.Context, cfg Config, agent Agent, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.ID == "" {
		cfg.ID = cfg.Name
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("demo-service: listen: %w", err)
	}
	srv := &http.Server{Handler: handler(cfg), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	log.Info("demo service listening", "addr", l.Addr().String(), "health", cfg.HealthPath)

	reg := registration(cfg, l.Addr().(*net.TCPAddr).Port)
	registered := false
register:
	for {
		err := agent.ServiceRegister(reg)
		if err == nil {
			registered = true
			log.Info("registered with the agent", "service", cfg.Name, "id", cfg.ID, "check", reg.Check.HTTP)
			break
		}
		log.Warn("registering with the agent; retrying", "err", err)
		select {
		case <-ctx.Done():
			break register
		case err := <-served:
			return fmt.Errorf("demo-service: serve: %w", err)
		case <-time.After(cfg.RegisterRetry):
		}
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("demo-service: serve: %w", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.StopTimeout)
	defer cancel()
	var errs []error
	if registered {
		if err := agent.ServiceDeregisterOpts(cfg.ID, (&api.QueryOptions{}).WithContext(stopCtx)); err != nil {

			errs = append(errs, fmt.Errorf("demo-service: deregister: %w", err))
		} else {
			log.Info("deregistered from the agent", "id", cfg.ID)
		}
	}
	if err := srv.Shutdown(stopCtx); err != nil {
		errs = append(errs, fmt.Errorf("demo-service: shutdown: %w", err))
	}
	return errors.Join(errs...)
}

// registration is the service's definition with its HTTP check. The
// agent probes the check on the service's catalog address, or on
// 127.0.0.1 when it has none (a service sharing the agent's host).
func registration(cfg Config, port int) *api.AgentServiceRegistration {
	host := cfg.Address
	if host == "" {
		host = "127.0.0.1"
	}
	return &api.AgentServiceRegistration{
		ID:      cfg.ID,
		Name:    cfg.Name,
		Tags:    cfg.Tags,
		Port:    port,
		Address: cfg.Address,
		Check: &api.AgentServiceCheck{
			Name:     cfg.Name + " health",
			HTTP:     "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + cfg.HealthPath,
			Interval: cfg.CheckInterval.String(),
			Timeout:  "2s",
		},
	}
}

// handler answers the health path with 200 "ok" and every other path with
// a line naming the service and the host that serves it.
func handler(cfg Config) http.Handler {
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc(cfg.HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s (%s) on %s: %s\n", cfg.Name, cfg.ID, host, r.URL.Path)
	})
	return mux
}

func listenParts(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q is not a port", p)
	}
	return host, port, nil
}

type cmd struct {
	io   command.IO
	http command.HTTPFlags
}

// New returns the demo-service command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string {
	return "Runs a tiny HTTP service that registers itself with its agent (for demos)"
}

func (c *cmd) Run(ctx context.Context, args []string) int {
	cfg := DefaultConfig()
	var tags, level string
	fs := flag.NewFlagSet("demo-service", flag.ContinueOnError)
	fs.StringVar(&cfg.Name, "name", cfg.Name, "The service's name.")
	fs.StringVar(&cfg.ID, "id", "", "The service's ID; the name by default.")
	fs.StringVar(&tags, "tags", "", "The service's tags, comma-separated.")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "The address the service listens on (host:port).")
	fs.StringVar(&cfg.Address, "address", "", "The service's address in the catalog, on which the agent probes it; the agent's node address (probed on 127.0.0.1) by default.")
	fs.StringVar(&cfg.HealthPath, "health-path", cfg.HealthPath, "The path the agent's HTTP check probes.")
	fs.DurationVar(&cfg.CheckInterval, "check-interval", cfg.CheckInterval, "How often the agent probes the health path.")
	fs.StringVar(&level, "log-level", "info", "Log level: trace, debug, info, warn, error.")
	c.http.Register(fs)
	if code, done := command.Parse(fs, c.io, help, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.io.Err, "Too many arguments (expected 0, got %d)\n", fs.NArg())
		return 1
	}
	if tags != "" {
		cfg.Tags = strings.Split(tags, ",")
	}
	lvl, err := logging.ParseLevel(level)
	if err != nil {
		fmt.Fprintf(c.io.Err, "-log-level: %v\n", err)
		return 1
	}
	// Not c.http.Client: its requests end with ctx, and the service
	// deregisters after ctx has ended.
	acfg := api.DefaultConfig()
	acfg.Address, acfg.Datacenter = c.http.Addr, c.http.Datacenter
	acfg.HttpClient = &http.Client{Timeout: cfg.StopTimeout}
	cl, err := api.NewClient(acfg)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	if err := Run(ctx, cfg, cl.Agent(), logging.New(c.io.Err, lvl)); err != nil {
		fmt.Fprintf(c.io.Err, "==> %v\n", err)
		return 1
	}
	return 0
}

const help = `
Usage: tribune demo-service [options]

  Runs a tiny HTTP service that registers itself with the local agent
  (PUT /v1/agent/service/register) with an HTTP check on its health path,
  answers that path, and deregisters when it gets SIGINT or SIGTERM.

      $ tribune demo-service -name web -listen 0.0.0.0:8080
`
