package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// `tribune bench catalog`: catalog registration churn and health reads.

// Catalog operations.
const (
	opChurn  = "churn"
	opHealth = "health"
)

// catalogConfig is a parsed `tribune bench catalog` invocation.
type catalogConfig struct {
	target    string
	addr      string
	clients   int
	duration  time.Duration // 0 with requests
	requests  int64         // 0 with duration
	services  int
	nodes     int
	instances int
	op        string
	prefix    string
	timeout   time.Duration
	json      bool
	compareKV int // rounds of adjacent KV and catalog runs; 0: none (compare.go)
}

// validPrefix keeps the generated node and service names plain: they go
// into URL paths and DNS-like names.
var validPrefix = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)

// maxCatalogInstances bounds what -op health writes before reading.
const maxCatalogInstances = 1_000_000

// parseCatalog parses and validates the flags of `tribune bench catalog`.
// Syntax errors are written to errw by the flag package.
func parseCatalog(args []string, errw io.Writer) (*catalogConfig, error) {
	cfg := &catalogConfig{}
	fs := flag.NewFlagSet("bench catalog", flag.ContinueOnError)
	fs.SetOutput(errw)
	fs.Usage = func() {
		fmt.Fprint(errw, catalogUsage)
		fs.PrintDefaults()
	}
	lf := loadFlags{target: &cfg.target, addr: &cfg.addr, clients: &cfg.clients, duration: &cfg.duration,
		requests: &cfg.requests, timeout: &cfg.timeout, json: &cfg.json}
	lf.register(fs, 64,
		"What to load: grpc (Tribune's gRPC RegistryService) or http (any Consul-compatible HTTP API).",
		"The target's address (host:port). Default: 127.0.0.1:8502 for grpc, 127.0.0.1:8500 for http.")
	fs.IntVar(&cfg.services, "services", 1000, "The number of service names the clients pick from uniformly.")
	fs.IntVar(&cfg.nodes, "nodes", 100, "The number of nodes the instances are spread over.")
	fs.IntVar(&cfg.instances, "instances", 10, "With -op health: the instances of each service written before the reads.")
	fs.StringVar(&cfg.op, "op", opChurn,
		"The operation: churn (register then deregister an instance, repeatedly) or health (read the passing instances of a service).")
	fs.StringVar(&cfg.prefix, "prefix", "bench-", "The prefix of the node and service names; letters, digits, '.', '_' and '-'.")
	fs.IntVar(&cfg.compareKV, "compare-kv", 0,
		"With -op churn: run this many rounds of KV puts and churn in adjacent runs (KV, churn, churn, KV, each for -duration) and report churn's writes/s over KV's.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errFlagSyntax
	}

	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q: `tribune bench catalog` takes only flags", fs.Arg(0))
	case cfg.target != targetGRPC && cfg.target != targetHTTP:
		return nil, fmt.Errorf("-target must be grpc or http, not %q", cfg.target)
	case cfg.op != opChurn && cfg.op != opHealth:
		return nil, fmt.Errorf("-op must be churn or health, not %q", cfg.op)
	}
	if err := lf.validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.services < 1:
		return nil, fmt.Errorf("-services must be at least 1, not %d", cfg.services)
	case cfg.nodes < 1:
		return nil, fmt.Errorf("-nodes must be at least 1, not %d", cfg.nodes)
	case cfg.instances < 1:
		return nil, fmt.Errorf("-instances must be at least 1, not %d", cfg.instances)
	case cfg.op == opHealth && int64(cfg.services)*int64(cfg.instances) > maxCatalogInstances:
		return nil, fmt.Errorf("-services × -instances must be at most %d, not %d",
			maxCatalogInstances, int64(cfg.services)*int64(cfg.instances))
	case !validPrefix.MatchString(cfg.prefix):
		return nil, fmt.Errorf("-prefix may hold only letters, digits, '.', '_' and '-': %q", cfg.prefix)
	case cfg.timeout <= 0:
		return nil, fmt.Errorf("-timeout must be positive, not %s", cfg.timeout)
	case cfg.compareKV < 0 || cfg.compareKV > maxCompareRounds:
		return nil, fmt.Errorf("-compare-kv must be between 0 and %d rounds, not %d", maxCompareRounds, cfg.compareKV)
	case cfg.compareKV > 0 && cfg.op != opChurn:
		return nil, errors.New("-compare-kv compares churn with KV puts: it needs -op churn")
	case cfg.compareKV > 0 && cfg.requests > 0:
		return nil, errors.New("-compare-kv times each run with -duration: it does not take -requests")
	}
	lf.finish()
	return cfg, nil
}

const catalogUsage = `Usage: tribune bench catalog [options]

  Loads a catalog with -clients concurrent clients, each keeping one request
  in flight, for -duration or -requests requests, and reports the throughput
  (successful requests per second), the latency percentiles of the
  successful requests (p50, p90, p99, max) and the error count. It exits 1
  if any request failed.

  Operations:
    churn    Each client registers a service instance (a node among -nodes,
             a service among -services, with a passing service check) and
             then deregisters it, over and over. Both writes count.
    health   First writes -services × -instances instances spread over the
             nodes, all passing; then each client reads the passing
             instances of a random service.

  Targets:
    grpc   Tribune's gRPC RegistryService (Register, Deregister,
           ServiceHealth with passing_only), over one multiplexed HTTP/2
           connection.
    http   A Consul-compatible HTTP API: PUT /v1/catalog/register and
           /v1/catalog/deregister, GET /v1/health/service/<s>?passing, over
           up to -clients keep-alive connections.

  The nodes are named <prefix>node-N and the services <prefix>svc-N; the
  nodes, and with them all the bench wrote, are deregistered at the end.

  With -compare-kv N, churn is compared with KV puts on the same target
  (256-byte values over 10000 keys, as 'tribune bench kv -op put' writes
  them): after a warm-up run of each, N rounds of four runs of -duration,
  KV, churn, churn, KV. Each churn run is divided by the KV run next to
  it, and the median of those ratios is reported with a 95% bootstrap
  interval. Adjacent pairs cancel most of a shared machine's drift, which
  between two single runs can be larger than the difference measured.

  For example:

      $ tribune bench catalog -target http -addr 127.0.0.1:8500 -clients 64 -op churn
      $ tribune bench catalog -clients 64 -duration 2s -compare-kv 30

Options:

`

// runCatalogCommand parses `tribune bench catalog` ARGS and runs it.
func (c *cmd) runCatalogCommand(ctx context.Context, args []string) int {
	cfg, err := parseCatalog(args, c.io.Err)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !errors.Is(err, errFlagSyntax) {
			fmt.Fprintf(c.io.Err, "Error! %s\nRun 'tribune bench catalog -h' for usage.\n", err)
		}
		return 1
	}
	return c.runCatalog(ctx, cfg)
}

// catalogNames are the generated node and service names, and the name of
// each service's check.
type catalogNames struct {
	nodes      []string
	services   []string
	checkNames []string
}

func makeCatalogNames(cfg *catalogConfig) catalogNames {
	n := catalogNames{
		nodes:    makeKeys(cfg.prefix+"node-", cfg.nodes),
		services: makeKeys(cfg.prefix+"svc-", cfg.services),
	}
	n.checkNames = make([]string, len(n.services))
	for i, svc := range n.services {
		n.checkNames[i] = checkName(svc)
	}
	return n
}

// checkName and checkID name a service instance's check as Consul names
// an agent service's only check.
func checkName(service string) string { return "Service '" + service + "' check" }
func checkID(serviceID string) string { return "service:" + serviceID }

// benchNodeAddress is the address of every generated node: nothing
// connects to it (catalog checks are not probed).
const benchNodeAddress = "127.0.0.1"

func newReg(node, service, id string, port int) catalogReg {
	return catalogReg{node: node, address: benchNodeAddress, service: service, serviceID: id, port: port,
		checkID: checkID(id), checkName: checkName(service)}
}

func (c *cmd) runCatalog(ctx context.Context, cfg *catalogConfig) int {
	d, err := newCatalogDriver(cfg)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error! Cannot connect to %s at %s: %s\n", cfg.target, cfg.addr, err)
		return 1
	}
	defer d.close()

	names := makeCatalogNames(cfg)
	// Whatever happens, remove the nodes and everything on them.
	defer func() {
		start := time.Now()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		err := parallel(cctx, cfg.clients, len(names.nodes), cfg.timeout, func(ctx context.Context, i int) error {
			return d.deregister(ctx, names.nodes[i], "")
		})
		if err != nil {
			fmt.Fprintf(c.io.Err, "Warning: cannot deregister the bench's nodes: %s\n", err)
			return
		}
		fmt.Fprintf(c.io.Err, "Deregistered %d nodes in %s after the run.\n", len(names.nodes), time.Since(start).Round(time.Millisecond))
	}()

	steps := make([]func(context.Context) error, cfg.clients)
	if cfg.op == opHealth {
		start := time.Now()
		n := cfg.services * cfg.instances
		err := parallel(ctx, cfg.clients, n, cfg.timeout, func(ctx context.Context, k int) error {
			return d.register(ctx, healthInstance(cfg, names, k))
		})
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error! Cannot register the instances before reading them: %s\n", err)
			return 1
		}
		fmt.Fprintf(c.io.Err, "Registered %d instances of %d services on %d nodes in %s before the run.\n",
			n, cfg.services, cfg.nodes, time.Since(start).Round(time.Millisecond))
		for i := range steps {
			r := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			steps[i] = func(ctx context.Context) error {
				svc := names.services[r.IntN(len(names.services))]
				got, err := d.serviceHealth(ctx, svc)
				if err != nil {
					return err
				}
				if got != cfg.instances {
					return fmt.Errorf("service %s: %d passing instances, want %d", svc, got, cfg.instances)
				}
				return nil
			}
		}
	} else {
		for i := range steps {
			steps[i] = newChurnClient(d, names, i).step
		}
	}

	if cfg.compareKV > 0 {
		return c.compareWithKV(ctx, cfg, steps)
	}
	res := loadSteps(ctx, cfg.duration, cfg.requests, cfg.timeout, steps)
	if err := reportCatalog(c.io.Out, cfg, res); err != nil {
		fmt.Fprintf(c.io.Err, "Error! %s\n", err)
		return 1
	}
	if res.errors > 0 {
		return 1
	}
	return 0
}

// healthInstance is the k-th instance -op health writes: instance j of
// service i goes on node (i×instances + j) mod nodes, so a service's
// instances are on distinct nodes when there are enough.
func healthInstance(cfg *catalogConfig, names catalogNames, k int) catalogReg {
	i, j := k/cfg.instances, k%cfg.instances
	svc := names.services[i]
	return newReg(names.nodes[k%len(names.nodes)], svc, svc+"-"+strconv.Itoa(j), 20000+j)
}

// churnClient registers an instance, then deregisters it, and so on. Its
// instance ID is its own, so clients never remove each other's instances.
type churnClient struct {
	d      catalogDriver
	names  catalogNames
	r      *rand.Rand
	suffix string
	port   int
	// ids and checkIDs are this client's instance and check ID of each
	// service, made the first time the client picks the service.
	ids, checkIDs []string
	held          catalogReg // registered and not yet deregistered
	holding       bool
}

func newChurnClient(d catalogDriver, names catalogNames, i int) *churnClient {
	return &churnClient{
		d: d, names: names,
		r:        rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))),
		suffix:   "-c" + strconv.Itoa(i),
		port:     20000 + i%40000,
		ids:      make([]string, len(names.services)),
		checkIDs: make([]string, len(names.services)),
	}
}

func (c *churnClient) step(ctx context.Context) error {
	if c.holding {
		if err := c.d.deregister(ctx, c.held.node, c.held.serviceID); err != nil {
			return err
		}
		c.holding = false
		return nil
	}
	s := c.r.IntN(len(c.names.services))
	if c.ids[s] == "" {
		c.ids[s] = c.names.services[s] + c.suffix
		c.checkIDs[s] = checkID(c.ids[s])
	}
	reg := catalogReg{
		node: c.names.nodes[c.r.IntN(len(c.names.nodes))], address: benchNodeAddress,
		service: c.names.services[s], serviceID: c.ids[s], port: c.port,
		checkID: c.checkIDs[s], checkName: c.names.checkNames[s],
	}
	if err := c.d.register(ctx, reg); err != nil {
		return err
	}
	c.held, c.holding = reg, true
	return nil
}

// parallel calls fn(ctx, i) for every i below n from up to workers
// goroutines, each call with its own timeout, and returns the first error
// (after which no new call starts).
func parallel(ctx context.Context, workers, n int, timeout time.Duration, fn func(ctx context.Context, i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, timeout)
				err := fn(rctx, int(i))
				cancel()
				if err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(n)) // stop everyone
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// loadSteps runs one client per step function, each with one request in
// flight, until duration has passed or requests requests have started, or
// ctx ends; it times each call and counts its errors. A request in flight
// at the deadline completes and counts. It is load's loop for operations
// other than a key/value put or get.
func loadSteps(ctx context.Context, duration time.Duration, requests int64, timeout time.Duration, steps []func(context.Context) error) result {
	var (
		remaining atomic.Int64 // requests left to start, with requests
		errCount  atomic.Uint64
		firstErr  atomic.Pointer[string]
		wg        sync.WaitGroup
	)
	remaining.Store(requests)
	hists := make([]*histogram, len(steps))
	start := time.Now()
	deadline := start.Add(duration)
	for i, step := range steps {
		hists[i] = newHistogram()
		wg.Go(func() {
			h := hists[i]
			for ctx.Err() == nil {
				if requests > 0 {
					if remaining.Add(-1) < 0 {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, timeout)
				t0 := time.Now()
				err := step(rctx)
				lat := time.Since(t0)
				cancel()
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: not the target's fault
					}
					errCount.Add(1)
					if firstErr.Load() == nil {
						msg := err.Error()
						firstErr.CompareAndSwap(nil, &msg)
					}
					continue
				}
				h.Record(lat)
			}
		})
	}
	wg.Wait()
	res := result{elapsed: time.Since(start), errors: errCount.Load(), latency: newHistogram()}
	for _, h := range hists {
		res.latency.Merge(h)
	}
	res.ops = res.latency.Count()
	if p := firstErr.Load(); p != nil {
		res.firstError = *p
	}
	return res
}

// catalogJSONResult is the -json output of `bench catalog`.
type catalogJSONResult struct {
	Target         string      `json:"target"`
	Addr           string      `json:"addr"`
	Op             string      `json:"op"`
	Clients        int         `json:"clients"`
	Services       int         `json:"services"`
	Nodes          int         `json:"nodes"`
	Instances      int         `json:"instances,omitempty"` // -op health only
	Prefix         string      `json:"prefix"`
	ElapsedSeconds float64     `json:"elapsed_seconds"`
	Ops            uint64      `json:"ops"`
	Errors         uint64      `json:"errors"`
	FirstError     string      `json:"first_error,omitempty"`
	OpsPerSecond   float64     `json:"ops_per_second"`
	LatencyMs      jsonLatency `json:"latency_ms"`
}

func reportCatalog(w io.Writer, cfg *catalogConfig, r result) error {
	h := r.latency
	instances := 0
	if cfg.op == opHealth {
		instances = cfg.instances
	}
	if cfg.json {
		return json.NewEncoder(w).Encode(catalogJSONResult{
			Target: cfg.target, Addr: cfg.addr, Op: cfg.op, Clients: cfg.clients,
			Services: cfg.services, Nodes: cfg.nodes, Instances: instances, Prefix: cfg.prefix,
			ElapsedSeconds: r.elapsed.Seconds(), Ops: r.ops, Errors: r.errors, FirstError: r.firstError,
			OpsPerSecond: r.opsPerSecond(),
			LatencyMs: jsonLatency{
				P50: ms(h.Percentile(50)), P90: ms(h.Percentile(90)), P99: ms(h.Percentile(99)),
				Max: ms(h.Max()), Mean: ms(h.Mean()),
			},
		})
	}
	rate, inst := "writes/s", "-"
	if cfg.op == opHealth {
		rate, inst = "reads/s", strconv.Itoa(instances)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "target\taddr\top\tclients\tservices\tnodes\tinstances\telapsed\tops\terrors\t%s\tp50\tp90\tp99\tmax\n", rate)
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\n",
		cfg.target, cfg.addr, cfg.op, cfg.clients, cfg.services, cfg.nodes, inst,
		r.elapsed.Round(time.Millisecond), r.ops, r.errors, r.opsPerSecond(),
		fmtLatency(h.Percentile(50)), fmtLatency(h.Percentile(90)), fmtLatency(h.Percentile(99)), fmtLatency(h.Max()))
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.firstError != "" {
		_, err := fmt.Fprintf(w, "first error: %s\n", r.firstError)
		return err
	}
	return nil
}
