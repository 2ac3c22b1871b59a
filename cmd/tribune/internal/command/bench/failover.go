package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// `tribune bench detect` and `tribune bench failover`: a local cluster of
// real agents started from this binary, whose client agents or KV leaders
// are killed with SIGKILL, timed until the cluster has noticed or
// recovered.

// clusterConfig is a parsed `tribune bench detect` or `failover`
// invocation.
type clusterConfig struct {
	runs     int
	servers  int
	gossip   []string // the profiles to measure, one cluster each
	timeout  time.Duration
	settle   time.Duration
	raftRTT  time.Duration
	binary   string
	dataDir  string
	keepData bool
}

// gossipProfiles are the agent's -gossip values.
var gossipProfiles = []string{"lan", "small", "loopback"}

// parseClusterFlags parses the flags of `tribune bench NAME` (detect or
// failover), whose -gossip defaults to gossip.
func parseClusterFlags(name, usage, gossip string, args []string, errw io.Writer) (*clusterConfig, error) {
	cfg := &clusterConfig{}
	var profiles string
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(errw)
	fs.Usage = func() {
		fmt.Fprint(errw, usage)
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.runs, "runs", 10, "How many times to kill and time, per gossip profile.")
	fs.IntVar(&cfg.servers, "servers", 3, "The number of servers, started with -bootstrap-expect of the same; odd, at least 3.")
	fs.StringVar(&profiles, "gossip", gossip, "The agents' -gossip profiles to measure, comma-separated (lan, small, loopback): one cluster each, in turn.")
	fs.DurationVar(&cfg.timeout, "timeout", time.Minute, "The longest a run may take to notice or recover; a run that takes longer fails the command.")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "The pause before each kill, once the cluster is steady.")
	fs.DurationVar(&cfg.raftRTT, "raft-rtt", 20*time.Millisecond, "The agents' -raft-rtt.")
	fs.StringVar(&cfg.binary, "binary", "", "The tribune binary to run the agents from; this one by default.")
	fs.StringVar(&cfg.dataDir, "data-dir", "", "The directory of the agents' data and logs; a temporary one, removed at the end, by default.")
	fs.BoolVar(&cfg.keepData, "keep-data", false, "Keep the temporary directory of the agents' data and logs.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errFlagSyntax
	}
	for p := range strings.SplitSeq(profiles, ",") {
		p = strings.TrimSpace(p)
		if !contains(gossipProfiles, p) {
			return nil, fmt.Errorf("-gossip: %q is not lan, small or loopback", p)
		}
		if !contains(cfg.gossip, p) {
			cfg.gossip = append(cfg.gossip, p)
		}
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q: `tribune bench %s` takes only flags", fs.Arg(0), name)
	case cfg.runs < 1:
		return nil, fmt.Errorf("-runs must be at least 1, not %d", cfg.runs)
	case cfg.servers < 3 || cfg.servers%2 == 0:
		return nil, fmt.Errorf("-servers must be odd and at least 3 (one may die), not %d", cfg.servers)
	case cfg.servers > 7:
		return nil, fmt.Errorf("-servers must be at most 7, not %d", cfg.servers)
	case cfg.timeout <= 0:
		return nil, fmt.Errorf("-timeout must be positive, not %s", cfg.timeout)
	case cfg.settle < 0:
		return nil, fmt.Errorf("-settle must not be negative, not %s", cfg.settle)
	case cfg.raftRTT < time.Millisecond:
		return nil, fmt.Errorf("-raft-rtt must be at least 1ms, not %s", cfg.raftRTT)
	}
	return cfg, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// prepare resolves the binary and the data directory; cleanup removes a
// temporary data directory.
func (cfg *clusterConfig) prepare() (cleanup func(), err error) {
	if cfg.binary == "" {
		if cfg.binary, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	if cfg.dataDir != "" {
		return func() {}, os.MkdirAll(cfg.dataDir, 0o750)
	}
	// Short: the agents' unix sockets live in it.
	if cfg.dataDir, err = os.MkdirTemp("", "tb-"); err != nil {
		return nil, err
	}
	if cfg.keepData {
		return func() {}, nil
	}
	return func() { _ = os.RemoveAll(cfg.dataDir) }, nil
}

func (cfg *clusterConfig) agentOptions(gossip string) agentOptions {
	return agentOptions{binary: cfg.binary, gossip: gossip, raftRTT: cfg.raftRTT, logLevel: "warn"}
}

const detectUsage = `Usage: tribune bench detect [options]

  Measures failure detection: how long a client agent killed with SIGKILL
  takes to be seen as failed by gossip, and to have its serfHealth check
  critical in the catalog.

  It starts -servers server agents from the tribune binary on 127.0.0.1
  (free ports, -bootstrap-expect -servers, the -gossip profile), then, -runs
  times: starts a client agent, waits until the catalog shows its serfHealth
  passing and -settle more, kills it (SIGKILL: its services die with it),
  and polls the first server every 10ms for the client's member status
  (/v1/agent/members: failed) and its serfHealth
  (/v1/health/node/<node>: critical). Then it force-leaves the client with
  -prune, so every run sees the same pool. It prints each run and the
  p50/p99/max per profile, with one cluster per profile.

  For example, Consul's LAN timings against the small-cluster profile:

      $ tribune bench detect -gossip lan,small -runs 10

Options:

`

// runDetectCommand parses `tribune bench detect` ARGS and runs it.
func (c *cmd) runDetectCommand(ctx context.Context, args []string) int {
	cfg, err := parseClusterFlags("detect", detectUsage, "lan,small", args, c.io.Err)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !errors.Is(err, errFlagSyntax) {
			fmt.Fprintf(c.io.Err, "Error! %s\nRun 'tribune bench detect -h' for usage.\n", err)
		}
		return 1
	}
	if err := c.detect(ctx, cfg); err != nil {
		fmt.Fprintf(c.io.Err, "Error! %s\n", err)
		return 1
	}
	return 0
}

// detectRun is one detection: the times from the kill.
type detectRun struct {
	failed   time.Duration // until the first server's gossip listed it failed
	critical time.Duration // until its serfHealth was critical
}

func (c *cmd) detect(ctx context.Context, cfg *clusterConfig) error {
	cleanup, err := cfg.prepare()
	if err != nil {
		return err
	}
	defer cleanup()
	results := map[string][]detectRun{}
	for _, profile := range cfg.gossip {
		runs, err := c.detectProfile(ctx, cfg, profile)
		results[profile] = runs
		if err != nil {
			return fmt.Errorf("gossip %s: %w (logs in %s)", profile, err, cfg.dataDir)
		}
	}
	fmt.Fprintln(c.io.Out)
	tw := tabwriter.NewWriter(c.io.Out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "gossip\truns\tfailed p50\tp99\tmax\tcritical p50\tp99\tmax\t")
	for _, profile := range cfg.gossip {
		var failed, critical []time.Duration
		for _, r := range results[profile] {
			failed = append(failed, r.failed)
			critical = append(critical, r.critical)
		}
		f, k := summarize(failed), summarize(critical)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", profile, f.N,
			fmtSeconds(f.P50), fmtSeconds(f.P99), fmtSeconds(f.Max), fmtSeconds(k.P50), fmtSeconds(k.P99), fmtSeconds(k.Max))
	}
	return tw.Flush()
}

func (c *cmd) detectProfile(ctx context.Context, cfg *clusterConfig, profile string) ([]detectRun, error) {
	fmt.Fprintf(c.io.Err, "Starting %d servers (-gossip %s)...\n", cfg.servers, profile)
	cl, err := startTribune(ctx, filepath.Join(cfg.dataDir, "detect-"+profile), cfg.servers, cfg.agentOptions(profile))
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	watcher := cl.servers[0].http
	var runs []detectRun
	for i := range cfg.runs {
		node := "client-" + strconv.Itoa(i+1)
		client, err := cl.startClient(ctx, node)
		if err != nil {
			return runs, err
		}
		if err := sleep(ctx, cfg.settle); err != nil {
			return runs, err
		}
		start := time.Now()
		client.kill()
		var r detectRun
		err = poll(ctx, cfg.timeout, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
			if r.failed == 0 {
				if st, err := memberStatus(ctx, watcher, node); err == nil && st == 4 {
					r.failed = time.Since(start)
				}
			}
			st, err := serfHealth(ctx, watcher, node)
			if err == nil && st == "critical" {
				r.critical = time.Since(start)
				if r.failed == 0 {
					r.failed = r.critical
				}
				return true, nil
			}
			return false, nil
		})
		if err != nil {
			return runs, fmt.Errorf("run %d: %s never critical: %w", i+1, node, err)
		}
		runs = append(runs, r)
		fmt.Fprintf(c.io.Out, "gossip %-8s run %2d: failed after %s, serfHealth critical after %s\n",
			profile, i+1, fmtSeconds(r.failed), fmtSeconds(r.critical))
		// Best effort: a failed node left in the pool only costs serf's
		// reconnect attempts.
		if err := forceLeave(ctx, watcher, node); err != nil {
			fmt.Fprintf(c.io.Err, "Warning: %s\n", err)
		}
	}
	return runs, nil
}

const failoverUsage = `Usage: tribune bench failover [options]

  Measures leader failover: how long KV writes stop when the KV shard's
  leader dies.

  It starts -servers server agents from the tribune binary on 127.0.0.1
  (free ports, -bootstrap-expect -servers, the -gossip profile), then, -runs
  times: finds the KV shard's leader (asking a kv service for it), waits
  -settle, kills that leader's agent (SIGKILL: its services die with it),
  and from then on starts a KV put every 10ms through each surviving
  server's gRPC API (each put may take up to -timeout). It reports the time
  from the kill to the first put that succeeded through any server
  ("first write"), and to when every survivor had one ("all"). Then it
  restarts the killed server on its data directory and waits for it to
  accept writes. It prints each run and the p50/p99/max.

  For example:

      $ tribune bench failover -runs 10

Options:

`

// runFailoverCommand parses `tribune bench failover` ARGS and runs it.
func (c *cmd) runFailoverCommand(ctx context.Context, args []string) int {
	cfg, err := parseClusterFlags("failover", failoverUsage, "small", args, c.io.Err)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !errors.Is(err, errFlagSyntax) {
			fmt.Fprintf(c.io.Err, "Error! %s\nRun 'tribune bench failover -h' for usage.\n", err)
		}
		return 1
	}
	if err := c.failover(ctx, cfg); err != nil {
		fmt.Fprintf(c.io.Err, "Error! %s\n", err)
		return 1
	}
	return 0
}

// failoverRun is one failover: the times from the kill.
type failoverRun struct {
	first time.Duration // until a put succeeded through any survivor
	all   time.Duration // until one had through every survivor
}

func (c *cmd) failover(ctx context.Context, cfg *clusterConfig) error {
	cleanup, err := cfg.prepare()
	if err != nil {
		return err
	}
	defer cleanup()
	results := map[string][]failoverRun{}
	for _, profile := range cfg.gossip {
		runs, err := c.failoverProfile(ctx, cfg, profile)
		results[profile] = runs
		if err != nil {
			return fmt.Errorf("gossip %s: %w (logs in %s)", profile, err, cfg.dataDir)
		}
	}
	fmt.Fprintln(c.io.Out)
	tw := tabwriter.NewWriter(c.io.Out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "gossip\truns\tfirst write p50\tp99\tmax\tall p50\tp99\tmax\t")
	for _, profile := range cfg.gossip {
		var first, all []time.Duration
		for _, r := range results[profile] {
			first = append(first, r.first)
			all = append(all, r.all)
		}
		f, a := summarize(first), summarize(all)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", profile, f.N,
			fmtSeconds(f.P50), fmtSeconds(f.P99), fmtSeconds(f.Max), fmtSeconds(a.P50), fmtSeconds(a.P99), fmtSeconds(a.Max))
	}
	return tw.Flush()
}

func (c *cmd) failoverProfile(ctx context.Context, cfg *clusterConfig, profile string) ([]failoverRun, error) {
	fmt.Fprintf(c.io.Err, "Starting %d servers (-gossip %s)...\n", cfg.servers, profile)
	cl, err := startTribune(ctx, filepath.Join(cfg.dataDir, "failover-"+profile), cfg.servers, cfg.agentOptions(profile))
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	var runs []failoverRun
	for i := range cfg.runs {
		if err := sleep(ctx, cfg.settle); err != nil {
			return runs, err
		}
		victim, err := findKVLeader(ctx, cl)
		if err != nil {
			return runs, fmt.Errorf("run %d: %w", i+1, err)
		}
		regLeader, _ := httpLeader(ctx, victim)
		alsoRegistry := regLeader == "127.0.0.1:"+strconv.Itoa(victim.raftPort)
		var survivors []*agent
		for _, s := range cl.servers {
			if s != victim {
				survivors = append(survivors, s)
			}
		}
		r, err := timeFailover(ctx, victim, survivors, cfg.timeout)
		if err != nil {
			return runs, fmt.Errorf("run %d: %w", i+1, err)
		}
		runs = append(runs, r)
		fmt.Fprintf(c.io.Out, "gossip %-8s run %2d: killed %s (KV leader; registry leader too: %t): first write after %s, all survivors after %s\n",
			profile, i+1, victim.node, alsoRegistry, fmtSeconds(r.first), fmtSeconds(r.all))
		if err := victim.start(); err != nil {
			return runs, err
		}
		if err := waitWritable(ctx, victim, 2*time.Minute); err != nil {
			return runs, err
		}
	}
	return runs, nil
}

// findKVLeader returns the server that leads the KV shard, asking every
// running server until one knows.
func findKVLeader(ctx context.Context, cl *tribuneCluster) (*agent, error) {
	var leader *agent
	err := poll(ctx, time.Minute, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, s := range cl.servers {
			if !s.running() {
				continue
			}
			addr, err := kvLeader(ctx, s)
			if err != nil || addr == "" {
				continue
			}
			for _, t := range cl.servers {
				if addr == "127.0.0.1:"+strconv.Itoa(t.kvPort) {
					leader = t
					return true, nil
				}
			}
			return false, fmt.Errorf("the KV leader %s is none of the servers", addr)
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("no KV leader: %w", err)
	}
	return leader, nil
}

// timeFailover kills victim and times the first successful put through
// each survivor, starting one every 10ms through each.
func timeFailover(ctx context.Context, victim *agent, survivors []*agent, timeout time.Duration) (failoverRun, error) {
	drivers := make([]*grpcDriver, len(survivors))
	for i, s := range survivors {
		d, err := newGRPCDriver(s.grpc)
		if err != nil {
			return failoverRun{}, err
		}
		defer d.close()
		// Connect before the kill.
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = d.put(rctx, "bench-failover/warm", []byte("1"))
		cancel()
		if err != nil {
			return failoverRun{}, fmt.Errorf("put through %s before the kill: %w", s.node, err)
		}
		drivers[i] = d
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	victim.kill()
	firstOK := make([]atomic.Int64, len(survivors)) // nanoseconds since start; 0: none yet
	var wg sync.WaitGroup
	for i, d := range drivers {
		wg.Go(func() {
			// The puts still in flight when one succeeds are cancelled.
			sctx, stop := context.WithCancel(ctx)
			var inflight sync.WaitGroup
			defer inflight.Wait()
			defer stop()
			done := make(chan struct{})
			var once sync.Once
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for n := 0; ; n++ {
				inflight.Go(func() {
					err := d.put(sctx, "bench-failover/"+strconv.Itoa(n%100), []byte("1"))
					if err == nil {
						firstOK[i].CompareAndSwap(0, int64(time.Since(start)))
						once.Do(func() { close(done) })
					}
				})
				select {
				case <-ctx.Done():
					return
				case <-done:
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
	var r failoverRun
	for i := range firstOK {
		ns := time.Duration(firstOK[i].Load())
		if ns == 0 {
			return r, fmt.Errorf("no write through %s within %s of killing %s", survivors[i].node, timeout, victim.node)
		}
		if r.first == 0 || ns < r.first {
			r.first = ns
		}
		r.all = max(r.all, ns)
	}
	return r, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fmtSeconds renders a duration in seconds with millisecond precision.
func fmtSeconds(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }
