// Package bench implements `tribune bench kv`, a load generator for
// key/value stores: Tribune's gRPC API, any Consul-compatible HTTP API
// (Tribune's or Consul's), and etcd, so their throughput and latency can
// be compared under the same workload.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// Targets and operations.
const (
	targetGRPC = "grpc"
	targetHTTP = "http"
	targetEtcd = "etcd"

	opPut   = "put"
	opGet   = "get"
	opMixed = "mixed"
)

// defaultAddrs are the default -addr of each target.
var defaultAddrs = map[string]string{
	targetGRPC: "127.0.0.1:8502",
	targetHTTP: "127.0.0.1:8500",
	targetEtcd: "127.0.0.1:2379",
}

// maxValueSize is the largest value Consul accepts by default (512 KiB).
const maxValueSize = 512 << 10

// config is a parsed `tribune bench kv` invocation.
type config struct {
	target    string
	addr      string
	clients   int
	duration  time.Duration // 0 with requests
	requests  int64         // 0 with duration
	valueSize int
	keys      int
	op        string
	prefix    string
	timeout   time.Duration
	json      bool
}

type cmd struct{ io command.IO }

// New returns the bench command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Runs a load test against a key/value store" }

func (c *cmd) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.io.Err, usage)
		return 1
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(c.io.Err, usage)
		return 0
	case "kv":
	case "catalog":
		return c.runCatalogCommand(ctx, args[1:])
	case "health":
		return c.runHealthCommand(ctx, args[1:])
	case "detect":
		return c.runDetectCommand(ctx, args[1:])
	case "failover":
		return c.runFailoverCommand(ctx, args[1:])
	case "kv-cluster":
		return c.runKVClusterCommand(ctx, args[1:])
	default:
		fmt.Fprintf(c.io.Err, "Unknown subcommand: %q\n\n%s", args[0], usage)
		return 1
	}
	cfg, err := parse(args[1:], c.io.Err)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		// The flag package has printed its own errors with the usage.
		if !errors.Is(err, errFlagSyntax) {
			fmt.Fprintf(c.io.Err, "Error! %s\nRun 'tribune bench kv -h' for usage.\n", err)
		}
		return 1
	}
	return c.run(ctx, cfg)
}

// errFlagSyntax marks an error the flag package has already reported.
var errFlagSyntax = errors.New("invalid flags")

// parse parses and validates the flags of `tribune bench kv`. Syntax
// errors are written to errw by the flag package.
func parse(args []string, errw io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("bench kv", flag.ContinueOnError)
	fs.SetOutput(errw)
	fs.Usage = func() {
		fmt.Fprint(errw, kvUsage)
		fs.PrintDefaults()
	}
	lf := loadFlags{target: &cfg.target, addr: &cfg.addr, clients: &cfg.clients, duration: &cfg.duration,
		requests: &cfg.requests, timeout: &cfg.timeout, json: &cfg.json}
	lf.register(fs, 256,
		"What to load: grpc (Tribune's gRPC KV API), http (any Consul-compatible HTTP API) or etcd.",
		"The target's address (host:port); for grpc and etcd, a comma-separated list spreads the requests over several servers round-robin. Default: 127.0.0.1:8502 for grpc, 127.0.0.1:8500 for http, 127.0.0.1:2379 for etcd.")
	fs.IntVar(&cfg.valueSize, "value-size", 256, "The size of each value written, in bytes.")
	fs.IntVar(&cfg.keys, "keys", 10000, "The size of the key space the clients pick keys from uniformly.")
	fs.StringVar(&cfg.op, "op", opPut,
		"The operation: put, get or mixed (half puts, half gets). get and mixed write every key once first.")
	fs.StringVar(&cfg.prefix, "prefix", "bench/", "The prefix of the keys.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errFlagSyntax
	}

	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q: `tribune bench kv` takes only flags", fs.Arg(0))
	case defaultAddrs[cfg.target] == "":
		return nil, fmt.Errorf("-target must be grpc, http or etcd, not %q", cfg.target)
	case cfg.op != opPut && cfg.op != opGet && cfg.op != opMixed:
		return nil, fmt.Errorf("-op must be put, get or mixed, not %q", cfg.op)
	}
	if err := lf.validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.valueSize < 0 || cfg.valueSize > maxValueSize:
		return nil, fmt.Errorf("-value-size must be between 0 and %d bytes, not %d", maxValueSize, cfg.valueSize)
	case cfg.keys < 1:
		return nil, fmt.Errorf("-keys must be at least 1, not %d", cfg.keys)
	case cfg.timeout <= 0:
		return nil, fmt.Errorf("-timeout must be positive, not %s", cfg.timeout)
	case cfg.target == targetHTTP && strings.Contains(cfg.addr, ","):
		return nil, fmt.Errorf("-addr: the http target takes one address, not %q", cfg.addr)
	case lf.isSet("addr") && len(splitAddrs(cfg.addr)) == 0:
		return nil, fmt.Errorf("-addr: no address in %q", cfg.addr)
	case cfg.target == targetHTTP && strings.HasPrefix(cfg.prefix, "/"):
		return nil, fmt.Errorf("-prefix must not start with \"/\" (Consul keys cannot): %q", cfg.prefix)
	}
	lf.finish()
	return cfg, nil
}

const usage = `Usage: tribune bench <subcommand> [options]

  Runs a load test and reports throughput and latency.

Subcommands:
    kv          Loads a key/value store with puts, gets or both
    kv-cluster  Starts a Tribune and an etcd cluster and compares their puts
    catalog     Loads the catalog with registration churn or health reads
    health      Measures how fast failing HTTP checks reach the catalog
    detect      Measures how fast a killed client agent turns critical
    failover    Measures how fast writes resume after the KV leader is killed
`

const kvUsage = `Usage: tribune bench kv [options]

  Loads a key/value store with -clients concurrent clients, each keeping one
  request in flight, on keys picked uniformly from -keys keys, for -duration
  or -requests requests, and reports the throughput (successful requests per
  second), the latency percentiles of the successful requests (p50, p90, p99,
  max) and the error count. It exits 1 if any request failed.

  Targets:
    grpc   Tribune's gRPC KV API (tribune.kv.v1.KVService), over one
           multiplexed HTTP/2 connection.
    http   A Consul-compatible HTTP API: PUT and GET /v1/kv/<key>, over up
           to -clients keep-alive connections.
    etcd   etcd's v3 API (Put and Range), through its Go client, over one
           connection.

  For example, 256 clients writing 256-byte values for 10 seconds:

      $ tribune bench kv -target grpc -clients 256 -value-size 256 -duration 10s

Options:

`
