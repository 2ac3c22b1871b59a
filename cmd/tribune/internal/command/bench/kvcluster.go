package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// `tribune bench kv-cluster`: puts against a local Tribune cluster and a
// local etcd cluster of the same size, started side by side and loaded in
// turn, so that both see the same machine.

// kvClusterConfig is a parsed `tribune bench kv-cluster` invocation.
type kvClusterConfig struct {
	clusterConfig
	systems   []string // tribune, etcd: the order of the first round
	rounds    int
	clients   int
	duration  time.Duration
	valueSize int
	keys      int
	etcdBin   string
	pprofPort int
	quietCPU  float64 // the machine's busy share to wait below before a run; 0: do not wait
	quietWait time.Duration
	json      bool
}

const (
	systemTribune = "tribune"
	systemEtcd    = "etcd"
)

// parseKVCluster parses and validates the flags of `tribune bench
// kv-cluster`.
func parseKVCluster(args []string, errw io.Writer) (*kvClusterConfig, error) {
	cfg := &kvClusterConfig{}
	var systems, gossip string
	fs := flag.NewFlagSet("bench kv-cluster", flag.ContinueOnError)
	fs.SetOutput(errw)
	fs.Usage = func() {
		fmt.Fprint(errw, kvClusterUsage)
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.servers, "servers", 3, "The number of Tribune servers and of etcd members; odd.")
	fs.StringVar(&systems, "systems", "tribune,etcd", "The systems to load, comma-separated: tribune, etcd, or both (loaded in turn, the order swapped every round).")
	fs.IntVar(&cfg.rounds, "rounds", 3, "How many runs of each system.")
	fs.IntVar(&cfg.clients, "clients", 256, "The number of concurrent clients, each with one put in flight.")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "How long each run lasts.")
	fs.IntVar(&cfg.valueSize, "value-size", 256, "The size of each value written, in bytes.")
	fs.IntVar(&cfg.keys, "keys", 10000, "The size of the key space.")
	fs.StringVar(&cfg.etcdBin, "etcd-binary", "etcd", "The etcd binary (a name is looked up in PATH).")
	fs.StringVar(&gossip, "gossip", "small", "The Tribune agents' -gossip profile.")
	fs.DurationVar(&cfg.raftRTT, "raft-rtt", 20*time.Millisecond, "The Tribune agents' -raft-rtt.")
	fs.IntVar(&cfg.pprofPort, "pprof-port", 0, "When not 0: the Tribune servers' -pprof-port, server i (from 0) on this port + 10*i.")
	fs.Float64Var(&cfg.quietCPU, "quiet-cpu", 0.25, "Before each run, wait for 2 s in which the machine's CPUs were busier than this share (0-1); 0 does not wait.")
	fs.DurationVar(&cfg.quietWait, "quiet-wait", time.Minute, "The longest wait for a quiet machine; the run starts anyway after it.")
	fs.StringVar(&cfg.binary, "binary", "", "The tribune binary to run the agents from; this one by default.")
	fs.StringVar(&cfg.dataDir, "data-dir", "", "The directory of both clusters' data and logs; a temporary one, removed at the end, by default.")
	fs.BoolVar(&cfg.keepData, "keep-data", false, "Keep the temporary directory of the data and logs.")
	fs.BoolVar(&cfg.json, "json", false, "Print each run as one JSON object per line, as `tribune bench kv -json` does, instead of a table.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errFlagSyntax
	}
	for s := range strings.SplitSeq(systems, ",") {
		s = strings.TrimSpace(s)
		if s != systemTribune && s != systemEtcd {
			return nil, fmt.Errorf("-systems: %q is not tribune or etcd", s)
		}
		if !contains(cfg.systems, s) {
			cfg.systems = append(cfg.systems, s)
		}
	}
	cfg.gossip = []string{gossip}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q: `tribune bench kv-cluster` takes only flags", fs.Arg(0))
	case cfg.servers < 1 || cfg.servers%2 == 0 || cfg.servers > 7:
		return nil, fmt.Errorf("-servers must be odd, from 1 to 7, not %d", cfg.servers)
	case cfg.rounds < 1:
		return nil, fmt.Errorf("-rounds must be at least 1, not %d", cfg.rounds)
	case cfg.clients < 1 || cfg.clients > 100000:
		return nil, fmt.Errorf("-clients must be from 1 to 100000, not %d", cfg.clients)
	case cfg.duration <= 0:
		return nil, fmt.Errorf("-duration must be positive, not %s", cfg.duration)
	case cfg.valueSize < 0 || cfg.valueSize > maxValueSize:
		return nil, fmt.Errorf("-value-size must be between 0 and %d bytes, not %d", maxValueSize, cfg.valueSize)
	case cfg.keys < 1:
		return nil, fmt.Errorf("-keys must be at least 1, not %d", cfg.keys)
	case !contains(gossipProfiles, gossip):
		return nil, fmt.Errorf("-gossip: %q is not lan, small or loopback", gossip)
	case cfg.raftRTT < time.Millisecond:
		return nil, fmt.Errorf("-raft-rtt must be at least 1ms, not %s", cfg.raftRTT)
	case cfg.pprofPort < 0 || cfg.pprofPort > 65535-10*cfg.servers:
		return nil, fmt.Errorf("-pprof-port: %d leaves no room for %d servers' ports", cfg.pprofPort, cfg.servers)
	case cfg.quietCPU < 0 || cfg.quietCPU > 1:
		return nil, fmt.Errorf("-quiet-cpu must be between 0 and 1, not %g", cfg.quietCPU)
	case cfg.quietWait < 0:
		return nil, fmt.Errorf("-quiet-wait must not be negative, not %s", cfg.quietWait)
	}
	return cfg, nil
}

const kvClusterUsage = `Usage: tribune bench kv-cluster [options]

  Compares the put throughput of a Tribune cluster and an etcd cluster of
  -servers members each, on this machine, in one run.

  It starts -servers Tribune server agents from the tribune binary
  (-bootstrap-expect -servers) and an etcd cluster of -servers members, all
  on 127.0.0.1 and free ports, and waits until both accept writes. Then,
  -rounds times, it loads each system in turn (the order swapped every
  round) for -duration, with the workload of ` + "`tribune bench kv -op put`" + `:
  -clients clients, each with one put in flight, spread round-robin over
  every member (Tribune's gRPC API on each server; etcd's client with every
  member as an endpoint). Before each run it waits for the machine to be
  quiet (-quiet-cpu).

  Each run reports the throughput and latencies, the CPU time the system's
  processes used per put, the load generator's CPU per put, and how many
  CPU-seconds other processes on the machine used meanwhile (a measure of
  the noise). At the end: the median throughput of each system and their
  ratio. It exits 1 if a put failed.

  For example:

      $ tribune bench kv-cluster -servers 3 -clients 256 -duration 10s -rounds 3

Options:

`

// runKVClusterCommand parses `tribune bench kv-cluster` ARGS and runs it.
func (c *cmd) runKVClusterCommand(ctx context.Context, args []string) int {
	cfg, err := parseKVCluster(args, c.io.Err)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !errors.Is(err, errFlagSyntax) {
			fmt.Fprintf(c.io.Err, "Error! %s\nRun 'tribune bench kv-cluster -h' for usage.\n", err)
		}
		return 1
	}
	code, err := c.kvCluster(ctx, cfg)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error! %s\n", err)
		return 1
	}
	return code
}

// kvClusterRun is one load run of one system.
type kvClusterRun struct {
	system    string
	round     int
	res       result
	serverCPU time.Duration // the system's processes
	clientCPU time.Duration // this process
	otherCPU  time.Duration // everything else on the machine
}

func (c *cmd) kvCluster(ctx context.Context, cfg *kvClusterConfig) (int, error) {
	cleanup, err := cfg.prepare()
	if err != nil {
		return 1, err
	}
	defer cleanup()

	pids := map[string]func() []int{}
	addrs := map[string][]string{}
	if contains(cfg.systems, systemTribune) {
		fmt.Fprintf(c.io.Err, "Starting %d Tribune servers (-gossip %s)...\n", cfg.servers, cfg.gossip[0])
		opts := cfg.agentOptions(cfg.gossip[0])
		opts.pprofPort = cfg.pprofPort
		tc, err := startTribune(ctx, filepath.Join(cfg.dataDir, "tribune"), cfg.servers, opts)
		if err != nil {
			return 1, fmt.Errorf("%w (logs in %s)", err, cfg.dataDir)
		}
		defer tc.stop()
		pids[systemTribune], addrs[systemTribune] = tc.pids, tc.grpcAddrs()
		for i, s := range tc.servers {
			pprof := ""
			if cfg.pprofPort > 0 {
				pprof = fmt.Sprintf(", pprof: gateway %d, kv %d", cfg.pprofPort+10*i, cfg.pprofPort+10*i+2)
			}
			fmt.Fprintf(c.io.Err, "  %s: gRPC %s, HTTP %s, pid %d%s\n", s.node, s.grpc, s.http, s.pid(), pprof)
		}
	}
	if contains(cfg.systems, systemEtcd) {
		fmt.Fprintf(c.io.Err, "Starting %d etcd members (%s)...\n", cfg.servers, cfg.etcdBin)
		root := filepath.Join(cfg.dataDir, "etcd")
		if err := os.MkdirAll(root, 0o750); err != nil {
			return 1, err
		}
		ec, err := startEtcd(ctx, cfg.etcdBin, root, cfg.servers)
		if err != nil {
			return 1, fmt.Errorf("%w (logs in %s)", err, root)
		}
		defer ec.stop()
		pids[systemEtcd], addrs[systemEtcd] = ec.pids, ec.clients
		fmt.Fprintf(c.io.Err, "  etcd clients: %s\n", strings.Join(ec.clients, ","))
	}

	var runs []kvClusterRun
	code := 0
	for round := range cfg.rounds {
		order := cfg.systems
		if round%2 == 1 {
			order = reversed(order)
		}
		for _, system := range order {
			if cfg.quietCPU > 0 {
				if busy, ok := waitQuiet(ctx, cfg.quietCPU, cfg.quietWait); !ok {
					fmt.Fprintf(c.io.Err, "The machine was still %.0f%% busy after %s; running anyway.\n", 100*busy, cfg.quietWait)
				}
			}
			if ctx.Err() != nil {
				return 1, ctx.Err()
			}
			run, err := c.kvClusterRun(ctx, cfg, system, addrs[system], pids)
			if err != nil {
				return 1, err
			}
			run.round = round + 1
			runs = append(runs, run)
			if run.res.errors > 0 {
				code = 1
			}
			if err := reportKVClusterRun(c.io.Out, cfg, run); err != nil {
				return 1, err
			}
		}
	}
	if !cfg.json {
		if err := summarizeKVCluster(c.io.Out, cfg, runs); err != nil {
			return 1, err
		}
	}
	return code, nil
}

// kvClusterRun loads system once and measures the CPU time of its
// processes, of the bench and of the rest of the machine.
func (c *cmd) kvClusterRun(ctx context.Context, cfg *kvClusterConfig, system string, addrs []string, pids map[string]func() []int) (kvClusterRun, error) {
	target := targetGRPC
	if system == systemEtcd {
		target = targetEtcd
	}
	lc := &config{target: target, addr: strings.Join(addrs, ","), clients: cfg.clients, duration: cfg.duration,
		valueSize: cfg.valueSize, keys: cfg.keys, op: opPut, prefix: "bench/", timeout: 10 * time.Second}
	d, err := newDriver(lc)
	if err != nil {
		return kvClusterRun{}, fmt.Errorf("connect to %s: %w", system, err)
	}
	defer d.close()
	keys := makeKeys(lc.prefix, lc.keys)

	before, err := sampleCPU(pids)
	if err != nil {
		return kvClusterRun{}, err
	}
	res := load(ctx, lc, d, keys)
	after, err := sampleCPU(pids)
	if err != nil {
		return kvClusterRun{}, err
	}
	run := kvClusterRun{system: system, res: res,
		serverCPU: after.systems[system] - before.systems[system],
		clientCPU: after.self - before.self}
	other := (after.machine - before.machine) - run.clientCPU
	for _, s := range cfg.systems {
		other -= after.systems[s] - before.systems[s]
	}
	run.otherCPU = max(other, 0)
	return run, nil
}

// cpuSample is the CPU time used so far by each system, this process and
// the whole machine.
type cpuSample struct {
	systems map[string]time.Duration
	self    time.Duration
	machine time.Duration // busy time over all CPUs
}

func sampleCPU(pids map[string]func() []int) (cpuSample, error) {
	s := cpuSample{systems: map[string]time.Duration{}}
	for name, f := range pids {
		cpu, err := treeCPU(f())
		if err != nil {
			return s, err
		}
		s.systems[name] = cpu
	}
	self, err := readProc(os.Getpid())
	if err != nil {
		return s, err
	}
	s.self = self.cpu
	busy, _, err := machineCPU()
	if err != nil {
		return s, err
	}
	s.machine = busy
	return s, nil
}

// machineCPU returns the busy and the total time of all CPUs since boot,
// from the first line of /proc/stat (idle and iowait are not busy).
func machineCPU() (busy, total time.Duration, err error) {
	f, err := os.Open(filepath.Join(procRoot, "stat"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	return parseCPULine(line)
}

// parseCPULine parses the "cpu  user nice system idle iowait irq softirq
// steal guest guest_nice" line of /proc/stat (in USER_HZ ticks). guest
// time is already counted in user.
func parseCPULine(line string) (busy, total time.Duration, err error) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks []uint64
	for _, s := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks = append(ticks, n)
	}
	var b, t uint64
	for i, n := range ticks {
		t += n
		if i != 3 && i != 4 { // idle, iowait
			b += n
		}
	}
	tick := time.Second / clockTicks
	return time.Duration(b) * tick, time.Duration(t) * tick, nil
}

// waitQuiet waits until the machine's CPUs were less than share busy over
// 2 s, or for at most wait; it returns the last share seen and whether it
// was below.
func waitQuiet(ctx context.Context, share float64, wait time.Duration) (float64, bool) {
	deadline := time.Now().Add(wait)
	last := 1.0
	for {
		b0, t0, err := machineCPU()
		if err != nil {
			return 0, true // no /proc/stat: do not wait
		}
		if sleep(ctx, 2*time.Second) != nil {
			return last, false
		}
		b1, t1, err := machineCPU()
		if err != nil || t1 <= t0 {
			return 0, true
		}
		last = float64(b1-b0) / float64(t1-t0)
		if last < share {
			return last, true
		}
		if time.Now().After(deadline) {
			return last, false
		}
	}
}

func reversed(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[len(xs)-1-i] = x
	}
	return out
}

// perOp returns d per successful put, in µs.
func perOp(d time.Duration, ops uint64) float64 {
	if ops == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(ops)
}

func reportKVClusterRun(w io.Writer, cfg *kvClusterConfig, r kvClusterRun) error {
	h := r.res.latency
	if cfg.json {
		return writeJSON(w, map[string]any{
			"system": r.system, "round": r.round, "servers": cfg.servers, "clients": cfg.clients,
			"value_size": cfg.valueSize, "keys": cfg.keys, "elapsed_seconds": r.res.elapsed.Seconds(),
			"ops": r.res.ops, "errors": r.res.errors, "first_error": r.res.firstError,
			"ops_per_second": r.res.opsPerSecond(),
			"latency_ms": jsonLatency{P50: ms(h.Percentile(50)), P90: ms(h.Percentile(90)),
				P99: ms(h.Percentile(99)), Max: ms(h.Max()), Mean: ms(h.Mean())},
			"server_cpu_us_per_op": perOp(r.serverCPU, r.res.ops), "client_cpu_us_per_op": perOp(r.clientCPU, r.res.ops),
			"other_cpu_seconds": r.otherCPU.Seconds(),
		})
	}
	_, err := fmt.Fprintf(w, "round %d %-7s %8.0f puts/s  p50 %s  p99 %s  max %s  errors %d  server CPU %.0f µs/put  client CPU %.0f µs/put  other processes %.1f CPU-s\n",
		r.round, r.system, r.res.opsPerSecond(), fmtLatency(h.Percentile(50)), fmtLatency(h.Percentile(99)), fmtLatency(h.Max()),
		r.res.errors, perOp(r.serverCPU, r.res.ops), perOp(r.clientCPU, r.res.ops), r.otherCPU.Seconds())
	if err == nil && r.res.firstError != "" {
		_, err = fmt.Fprintf(w, "  first error: %s\n", r.res.firstError)
	}
	return err
}

func summarizeKVCluster(w io.Writer, cfg *kvClusterConfig, runs []kvClusterRun) error {
	med := map[string]float64{}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\truns\tmedian puts/s\tmin\tmax\tmedian server CPU µs/put\t")
	for _, s := range cfg.systems {
		var ops, cpu []float64
		for _, r := range runs {
			if r.system == s {
				ops = append(ops, r.res.opsPerSecond())
				cpu = append(cpu, perOp(r.serverCPU, r.res.ops))
			}
		}
		med[s] = median(ops)
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t\n", s, len(ops), med[s], minOf(ops), maxOf(ops), median(cpu))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if med[systemTribune] > 0 && med[systemEtcd] > 0 {
		var per []string
		for round := 1; round <= cfg.rounds; round++ {
			var t, e float64
			for _, r := range runs {
				if r.round == round && r.system == systemTribune {
					t = r.res.opsPerSecond()
				} else if r.round == round && r.system == systemEtcd {
					e = r.res.opsPerSecond()
				}
			}
			if e > 0 {
				per = append(per, fmt.Sprintf("%.2fx", t/e))
			}
		}
		_, err := fmt.Fprintf(w, "tribune / etcd: %.2fx (medians); per round: %s\n", med[systemTribune]/med[systemEtcd], strings.Join(per, " "))
		return err
	}
	return nil
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
