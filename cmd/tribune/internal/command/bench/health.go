package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// `tribune bench health`: how long an agent takes to carry a failing HTTP
// check into the catalog, and what its health service costs meanwhile.

// healthConfig is a parsed `tribune bench health` invocation.
type healthConfig struct {
	addr         string // the agent's HTTP API, host:port
	listen       string // the check server's listen address
	checks       int
	interval     time.Duration
	checkTimeout time.Duration
	flips        int
	duration     time.Duration // the flips are spread over it
	wait         time.Duration // the longest wait for all passing, and for the last flip
	pid          int
	prefix       string
	json         bool
}

// parseHealth parses and validates the flags of `tribune bench health`.
func parseHealth(args []string, errw io.Writer) (*healthConfig, error) {
	cfg := &healthConfig{}
	fs := flag.NewFlagSet("bench health", flag.ContinueOnError)
	fs.SetOutput(errw)
	fs.Usage = func() {
		fmt.Fprint(errw, healthUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.addr, "addr", defaultAddrs[targetHTTP], "The agent's HTTP API (host:port).")
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:0",
		"The address of the bench's check server, which the agent probes (port 0: any free port).")
	fs.IntVar(&cfg.checks, "checks", 1000, "The number of services registered, each with one HTTP check.")
	fs.DurationVar(&cfg.interval, "interval", 10*time.Second, "The checks' interval.")
	fs.DurationVar(&cfg.checkTimeout, "check-timeout", 5*time.Second, "The checks' timeout.")
	fs.IntVar(&cfg.flips, "flips", 200, "How many checks to turn from passing to critical, one at a time; at most -checks.")
	fs.DurationVar(&cfg.duration, "duration", 60*time.Second, "The time the flips are spread over, evenly.")
	fs.DurationVar(&cfg.wait, "wait", 2*time.Minute,
		"The longest wait for all checks to pass before the flips, and for the last flip to reach the catalog.")
	fs.IntVar(&cfg.pid, "pid", 0,
		"The PID of the process whose CPU and memory to report; by default the `tribune service health` of the agent at -addr.")
	fs.StringVar(&cfg.prefix, "prefix", "bench-hc-", "The prefix of the service IDs and names; letters, digits, '.', '_' and '-'.")
	fs.BoolVar(&cfg.json, "json", false, "Print the result as one JSON object instead of a table.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errFlagSyntax
	}
	cfg.addr = strings.TrimSuffix(strings.TrimPrefix(cfg.addr, "http://"), "/")
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q: `tribune bench health` takes only flags", fs.Arg(0))
	case !validHostPort(cfg.addr):
		return nil, fmt.Errorf("-addr must be host:port, not %q", cfg.addr)
	case !validHostPort(cfg.listen):
		return nil, fmt.Errorf("-listen must be host:port, not %q", cfg.listen)
	case cfg.checks < 1:
		return nil, fmt.Errorf("-checks must be at least 1, not %d", cfg.checks)
	case cfg.checks > 100000:
		return nil, fmt.Errorf("-checks must be at most 100000, not %d", cfg.checks)
	case cfg.flips < 0:
		return nil, fmt.Errorf("-flips must not be negative, not %d", cfg.flips)
	case cfg.flips > cfg.checks:
		return nil, fmt.Errorf("-flips (%d) must be at most -checks (%d): each flip turns another check critical", cfg.flips, cfg.checks)
	case cfg.interval <= 0:
		return nil, fmt.Errorf("-interval must be positive, not %s", cfg.interval)
	case cfg.checkTimeout <= 0:
		return nil, fmt.Errorf("-check-timeout must be positive, not %s", cfg.checkTimeout)
	case cfg.duration <= 0:
		return nil, fmt.Errorf("-duration must be positive, not %s", cfg.duration)
	case cfg.wait <= 0:
		return nil, fmt.Errorf("-wait must be positive, not %s", cfg.wait)
	case cfg.pid < 0:
		return nil, fmt.Errorf("-pid must not be negative, not %d", cfg.pid)
	case cfg.prefix == "" || !validPrefix.MatchString(cfg.prefix):
		return nil, fmt.Errorf("-prefix must be non-empty and hold only letters, digits, '.', '_' and '-': %q", cfg.prefix)
	}
	return cfg, nil
}

func validHostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

const healthUsage = `Usage: tribune bench health [options]

  Measures how long an agent takes to carry a failing HTTP check into the
  catalog, and what its health service costs in CPU and memory meanwhile.

  The bench serves one path per check (/c/<i>) on -listen, answering 200
  until it flips the check, then 503, and records when it served a check's
  first 503. It registers -checks services with the agent at -addr (PUT
  /v1/agent/service/register), each with an HTTP check on its path every
  -interval, and waits until the catalog shows them all passing. Then it
  flips -flips checks, one at a time, evenly over -duration, and follows
  /v1/health/state/critical with blocking queries: a flip's delay is the
  time from its first 503 served to its check's arrival in that list. The
  probe lag (from the flip to the first 503 served) depends on where the
  flip falls in the check's interval and is reported apart.

  It reports the delay percentiles, and the CPU time (utime+stime) and the
  resident memory (VmRSS sampled, VmHWM) of the agent's health service
  (` + "`tribune service health`" + `, found under /proc, or -pid) over the run. It
  deregisters its services at the end, and exits 1 if a flip never reached
  the catalog within -wait.

  For example:

      $ tribune bench health -addr 127.0.0.1:8500 -checks 1000 -interval 10s -flips 200

Options:

`

// runHealthCommand parses `tribune bench health` ARGS and runs it.
func (c *cmd) runHealthCommand(ctx context.Context, args []string) int {
	cfg, err := parseHealth(args, c.io.Err)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !errors.Is(err, errFlagSyntax) {
			fmt.Fprintf(c.io.Err, "Error! %s\nRun 'tribune bench health -h' for usage.\n", err)
		}
		return 1
	}
	return c.runHealth(ctx, cfg)
}

// Check statuses the check server answers.
const (
	checkOK      = http.StatusOK
	checkFailing = http.StatusServiceUnavailable
)

// checkServer answers each check's probes with the status the bench sets,
// and records when it first served a check's failing status.
type checkServer struct {
	status    []atomic.Int32 // what to answer
	firstFail []atomic.Int64 // unix nanoseconds of the first failing answer; 0: none yet
	probes    atomic.Uint64
}

func newCheckServer(n int) *checkServer {
	s := &checkServer{status: make([]atomic.Int32, n), firstFail: make([]atomic.Int64, n)}
	for i := range s.status {
		s.status[i].Store(checkOK)
	}
	return s
}

func (s *checkServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/c/")
	i, err := strconv.Atoi(rest)
	if !ok || err != nil || i < 0 || i >= len(s.status) {
		http.NotFound(w, r)
		return
	}
	s.probes.Add(1)
	st := int(s.status[i].Load())
	if st == checkFailing {
		s.firstFail[i].CompareAndSwap(0, time.Now().UnixNano())
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(st)
	if st == checkOK {
		_, _ = io.WriteString(w, "ok")
	} else {
		_, _ = io.WriteString(w, "failing")
	}
}

// agentClient talks to the agent's HTTP API.
type agentClient struct {
	client *http.Client
	base   string
}

func newAgentClient(addr string, conns int) *agentClient {
	return &agentClient{
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: 90 * time.Second, DisableCompression: true,
		}},
		base: "http://" + addr,
	}
}

func (a *agentClient) put(ctx context.Context, path string, body any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, a.base+path, r)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(got)))
	}
	return nil
}

// stateCheck is the part of a /v1/health/state element the bench reads.
type stateCheck struct {
	CheckID   string
	ServiceID string
	Status    string
}

// checksInState reads /v1/health/state/<state>, blocking while the index
// is index (0: not at all), at most wait; it returns the checks and the
// new index.
func (a *agentClient) checksInState(ctx context.Context, state string, index uint64, wait time.Duration) ([]stateCheck, uint64, error) {
	u := a.base + "/v1/health/state/" + state
	if index > 0 {
		u += "?index=" + strconv.FormatUint(index, 10) + "&wait=" + url.QueryEscape(wait.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, 0, fmt.Errorf("GET /v1/health/state/%s: HTTP %d: %s", state, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var cs []stateCheck
	if err := json.NewDecoder(resp.Body).Decode(&cs); err != nil {
		return nil, 0, fmt.Errorf("GET /v1/health/state/%s: %w", state, err)
	}
	next, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("GET /v1/health/state/%s: bad X-Consul-Index %q", state, resp.Header.Get("X-Consul-Index"))
	}
	// As Consul's clients do: an index that went backwards starts afresh.
	if next < index {
		next = 0
	}
	return cs, next, nil
}

// healthRun holds the bench's state: the generated IDs and what it saw.
type healthRun struct {
	cfg   *healthConfig
	ids   []string
	index map[string]int // check ID → check number
}

func newHealthRun(cfg *healthConfig) *healthRun {
	h := &healthRun{cfg: cfg, ids: makeKeys(cfg.prefix, cfg.checks), index: make(map[string]int, cfg.checks)}
	for i, id := range h.ids {
		h.index["service:"+id] = i
	}
	return h
}

// ours returns the number of one of the bench's checks, or -1.
func (h *healthRun) ours(c stateCheck) int {
	i, ok := h.index[c.CheckID]
	if !ok || c.ServiceID != h.ids[i] {
		return -1
	}
	return i
}

// procMonitor samples the measured process and remembers its peak RSS.
type procMonitor struct {
	pid  int
	mu   sync.Mutex
	peak uint64
	err  error
}

func (m *procMonitor) sample() (procSample, error) {
	s, err := readProc(m.pid)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if m.err == nil {
			m.err = err
		}
		return s, err
	}
	m.peak = max(m.peak, s.rss)
	return s, nil
}

func (m *procMonitor) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = m.sample()
		}
	}
}

// cpuOf samples the CPU time of each process in pids.
func cpuOf(pids map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range pids {
		if s, err := readProc(pid); err == nil {
			out[name] = s.cpu
		}
	}
	return out
}

// healthResult is what a health run measured.
type healthResult struct {
	registerTime   time.Duration // registering every service
	allPassingTime time.Duration // from the first registration to all passing in the catalog
	flipPhase      time.Duration // from the first flip to the last arrival (or giving up)
	flipped        int
	arrived        int
	unexpected     int // our checks seen critical without a flip
	delay          *histogram
	probeLag       *histogram
	probes         uint64
	firstError     string

	pid               int
	procErr           string
	cpuRun, cpuFlips  time.Duration
	rssStart, rssPeak uint64
	hwm               uint64
	agentCPU          map[string]time.Duration // over the run, by service
	agentCPUFlipPhase map[string]time.Duration
}

func (c *cmd) runHealth(ctx context.Context, cfg *healthConfig) int {
	h := newHealthRun(cfg)
	res := &healthResult{delay: newHistogram(), probeLag: newHistogram()}

	// The process to measure, and with auto-detection its siblings.
	pids := map[string]int{}
	if cfg.pid > 0 {
		pids["health"] = cfg.pid
	} else if found, err := findAgentServices(cfg.addr); err != nil {
		fmt.Fprintf(c.io.Err, "Warning: no CPU or memory figures: %s\n", err)
	} else {
		pids = found
	}
	res.pid = pids["health"]
	mon := &procMonitor{pid: res.pid}

	// The check server.
	l, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error! Cannot listen on %s: %s\n", cfg.listen, err)
		return 1
	}
	srv := newCheckServer(cfg.checks)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	defer hs.Close()
	checkBase := "http://" + l.Addr().String() + "/c/"

	agent := newAgentClient(cfg.addr, 32)
	defer agent.client.CloseIdleConnections()

	var start procSample
	if res.pid > 0 {
		if start, err = mon.sample(); err != nil {
			fmt.Fprintf(c.io.Err, "Warning: no CPU or memory figures: %s\n", err)
			res.pid = 0
		}
	}
	res.rssStart = start.rss
	cpuStart := cpuOf(pids)
	monCtx, stopMon := context.WithCancel(ctx)
	defer stopMon()
	if res.pid > 0 {
		go mon.run(monCtx, 100*time.Millisecond)
	}

	// Register, keeping track of what to deregister whatever happens.
	var registered sync.Map
	defer func() {
		t0 := time.Now()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		n := 0
		registered.Range(func(any, any) bool { n++; return true })
		err := parallel(cctx, 16, len(h.ids), 10*time.Second, func(ctx context.Context, i int) error {
			if _, ok := registered.Load(i); !ok {
				return nil
			}
			return agent.put(ctx, "/v1/agent/service/deregister/"+url.PathEscape(h.ids[i]), nil)
		})
		if err != nil {
			fmt.Fprintf(c.io.Err, "Warning: cannot deregister the bench's services: %s\n", err)
			return
		}
		fmt.Fprintf(c.io.Err, "Deregistered the %d services in %s.\n", n, time.Since(t0).Round(time.Millisecond))
	}()
	t0 := time.Now()
	err = parallel(ctx, 16, len(h.ids), 10*time.Second, func(ctx context.Context, i int) error {
		registered.Store(i, true)
		return agent.put(ctx, "/v1/agent/service/register", map[string]any{
			"ID": h.ids[i], "Name": h.ids[i], "Port": 20000 + i%40000,
			"Check": map[string]any{
				"Name":     "bench check " + strconv.Itoa(i),
				"HTTP":     checkBase + strconv.Itoa(i),
				"Interval": cfg.interval.String(),
				"Timeout":  cfg.checkTimeout.String(),
			},
		})
	})
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error! Cannot register the services: %s\n", err)
		return 1
	}
	res.registerTime = time.Since(t0)
	fmt.Fprintf(c.io.Err, "Registered %d services with HTTP checks every %s in %s; waiting for them to pass.\n",
		cfg.checks, cfg.interval, res.registerTime.Round(time.Millisecond))

	if err := h.waitAllPassing(ctx, agent); err != nil {
		fmt.Fprintf(c.io.Err, "Error! %s\n", err)
		return 1
	}
	res.allPassingTime = time.Since(t0)
	fmt.Fprintf(c.io.Err, "All %d checks passing in the catalog %s after the first registration; flipping %d over %s.\n",
		cfg.checks, res.allPassingTime.Round(time.Millisecond), cfg.flips, cfg.duration)

	var mid procSample
	if res.pid > 0 {
		mid, _ = mon.sample()
	}
	cpuMid := cpuOf(pids)

	h.flip(ctx, agent, srv, res)

	if res.pid > 0 {
		end, err := mon.sample()
		if err != nil {
			res.procErr = err.Error()
		} else {
			res.cpuRun, res.cpuFlips = end.cpu-start.cpu, end.cpu-mid.cpu
			res.hwm = end.hwm
		}
		stopMon()
		mon.mu.Lock()
		res.rssPeak = mon.peak
		mon.mu.Unlock()
	}
	cpuEnd := cpuOf(pids)
	res.agentCPU, res.agentCPUFlipPhase = map[string]time.Duration{}, map[string]time.Duration{}
	for name, end := range cpuEnd {
		res.agentCPU[name] = end - cpuStart[name]
		res.agentCPUFlipPhase[name] = end - cpuMid[name]
	}
	res.probes = srv.probes.Load()

	if err := reportHealth(c.io.Out, cfg, res); err != nil {
		fmt.Fprintf(c.io.Err, "Error! %s\n", err)
		return 1
	}
	if res.arrived < res.flipped || res.flipped < cfg.flips {
		return 1
	}
	return 0
}

// waitAllPassing follows the catalog's checks until every one of the
// bench's is there and passing.
func (h *healthRun) waitAllPassing(ctx context.Context, agent *agentClient) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.wait)
	defer cancel()
	var index uint64
	passing := 0
	for {
		cs, next, err := agent.checksInState(ctx, "any", index, 30*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%d of %d checks passing in the catalog after -wait %s", passing, h.cfg.checks, h.cfg.wait)
			}
			return err
		}
		passing = 0
		for _, c := range cs {
			if h.ours(c) >= 0 && c.Status == "passing" {
				passing++
			}
		}
		if passing == h.cfg.checks {
			return nil
		}
		index = next
	}
}

// flip turns checks failing one at a time, evenly over the run, while a
// watcher follows /v1/health/state/critical; it returns when every flip
// has arrived, or -wait after the last flip.
func (h *healthRun) flip(ctx context.Context, agent *agentClient, srv *checkServer, res *healthResult) {
	cfg := h.cfg
	n := cfg.checks
	flippedAt := make([]atomic.Int64, n) // unix ns; 0: not flipped
	arrivedAt := make([]int64, n)        // the watcher's
	seenUnexpected := make([]bool, n)    // the watcher's
	order := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)).Perm(n)[:cfg.flips]

	var (
		mu       sync.Mutex
		arrived  int
		flipped  int
		allDone  = make(chan struct{})
		doneOnce sync.Once
		firstErr string
	)
	markDone := func() { doneOnce.Do(func() { close(allDone) }) }

	watchCtx, stopWatch := context.WithCancel(ctx)
	watcherDone := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(watcherDone)
		var index uint64
		first := true
		for watchCtx.Err() == nil {
			cs, next, err := agent.checksInState(watchCtx, "critical", index, time.Minute)
			now := time.Now().UnixNano()
			if first {
				first = false
				close(ready)
			}
			if err != nil {
				if watchCtx.Err() != nil {
					return
				}
				mu.Lock()
				if firstErr == "" {
					firstErr = err.Error()
				}
				mu.Unlock()
				select {
				case <-time.After(100 * time.Millisecond):
				case <-watchCtx.Done():
				}
				continue
			}
			mu.Lock()
			for _, c := range cs {
				i := h.ours(c)
				if i < 0 {
					continue
				}
				switch {
				case flippedAt[i].Load() == 0:
					if !seenUnexpected[i] {
						seenUnexpected[i] = true
						res.unexpected++
					}
				case arrivedAt[i] == 0:
					arrivedAt[i] = now
					arrived++
				}
			}
			if flipped == cfg.flips && arrived == flipped {
				markDone()
			}
			mu.Unlock()
			index = next
		}
	}()
	// The watcher's first answer is the state before any flip.
	select {
	case <-ready:
	case <-ctx.Done():
	}

	start := time.Now()
	for k, i := range order {
		at := start.Add(time.Duration(k) * cfg.duration / time.Duration(cfg.flips))
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		flippedAt[i].Store(time.Now().UnixNano())
		srv.status[i].Store(checkFailing)
		mu.Lock()
		flipped++
		mu.Unlock()
	}
	if cfg.flips == 0 {
		// Nothing to follow: the phase measures the steady probing.
		select {
		case <-time.After(cfg.duration):
		case <-ctx.Done():
		}
	}
	mu.Lock()
	if flipped == cfg.flips && arrived == flipped {
		markDone()
	}
	mu.Unlock()
	select {
	case <-allDone:
	case <-time.After(cfg.wait):
	case <-ctx.Done():
	}
	res.flipPhase = time.Since(start)
	stopWatch()
	<-watcherDone

	res.flipped, res.arrived, res.firstError = flipped, arrived, firstErr
	var missing []string
	for _, i := range order {
		if flippedAt[i].Load() == 0 {
			continue
		}
		fail := srv.firstFail[i].Load()
		switch {
		case arrivedAt[i] == 0:
			missing = append(missing, h.ids[i])
		case fail == 0:
			// Critical in the catalog before any failing answer: not
			// the flip's doing (a probe timeout?).
			res.unexpected++
		default:
			res.delay.Record(time.Duration(arrivedAt[i] - fail))
			res.probeLag.Record(time.Duration(fail - flippedAt[i].Load()))
		}
	}
	if len(missing) > 0 && res.firstError == "" {
		slices.Sort(missing)
		res.firstError = fmt.Sprintf("%d flipped checks never reached the catalog within -wait %s, such as %s",
			len(missing), cfg.wait, missing[0])
	}
}

// healthJSONResult is the -json output of `bench health`.
type healthJSONResult struct {
	Addr                string             `json:"addr"`
	Checks              int                `json:"checks"`
	IntervalSeconds     float64            `json:"interval_seconds"`
	Flips               int                `json:"flips"`
	DurationSeconds     float64            `json:"duration_seconds"`
	RegisterSeconds     float64            `json:"register_seconds"`
	AllPassingSeconds   float64            `json:"all_passing_seconds"`
	FlipPhaseSeconds    float64            `json:"flip_phase_seconds"`
	Flipped             int                `json:"flipped"`
	Arrived             int                `json:"arrived"`
	UnexpectedCritical  int                `json:"unexpected_critical"`
	Probes              uint64             `json:"probes"`
	DelayMs             jsonLatency        `json:"delay_ms"`
	ProbeLagMs          jsonLatency        `json:"probe_lag_ms"`
	FirstError          string             `json:"first_error,omitempty"`
	HealthPID           int                `json:"health_pid,omitempty"`
	CPUSeconds          float64            `json:"cpu_seconds"`
	FlipPhaseCPUSeconds float64            `json:"flip_phase_cpu_seconds"`
	RSSStartBytes       uint64             `json:"rss_start_bytes"`
	RSSPeakBytes        uint64             `json:"rss_peak_bytes"`
	VmHWMBytes          uint64             `json:"vm_hwm_bytes"`
	AgentCPUSeconds     map[string]float64 `json:"agent_cpu_seconds,omitempty"`
	AgentFlipCPUSeconds map[string]float64 `json:"agent_flip_phase_cpu_seconds,omitempty"`
	ProcError           string             `json:"proc_error,omitempty"`
}

func latencyOf(h *histogram) jsonLatency {
	return jsonLatency{
		P50: ms(h.Percentile(50)), P90: ms(h.Percentile(90)), P99: ms(h.Percentile(99)),
		Max: ms(h.Max()), Mean: ms(h.Mean()),
	}
}

func seconds(m map[string]time.Duration) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v.Seconds()
	}
	return out
}

func mib(b uint64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }

func reportHealth(w io.Writer, cfg *healthConfig, r *healthResult) error {
	if cfg.json {
		return json.NewEncoder(w).Encode(healthJSONResult{
			Addr: cfg.addr, Checks: cfg.checks, IntervalSeconds: cfg.interval.Seconds(), Flips: cfg.flips,
			DurationSeconds: cfg.duration.Seconds(), RegisterSeconds: r.registerTime.Seconds(),
			AllPassingSeconds: r.allPassingTime.Seconds(), FlipPhaseSeconds: r.flipPhase.Seconds(),
			Flipped: r.flipped, Arrived: r.arrived, UnexpectedCritical: r.unexpected, Probes: r.probes,
			DelayMs: latencyOf(r.delay), ProbeLagMs: latencyOf(r.probeLag), FirstError: r.firstError,
			HealthPID: r.pid, CPUSeconds: r.cpuRun.Seconds(), FlipPhaseCPUSeconds: r.cpuFlips.Seconds(),
			RSSStartBytes: r.rssStart, RSSPeakBytes: r.rssPeak, VmHWMBytes: r.hwm,
			AgentCPUSeconds: seconds(r.agentCPU), AgentFlipCPUSeconds: seconds(r.agentCPUFlipPhase),
			ProcError: r.procErr,
		})
	}
	d := r.delay
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "addr\tchecks\tinterval\tflips\tarrived\tdelay p50\tp90\tp99\tmax\tprobe lag p50\thealth cpu\tflip-phase cpu\trss peak\tvmhwm")
	cpu, flipCPU, rss, hwm := "-", "-", "-", "-"
	if r.pid > 0 && r.procErr == "" {
		cpu = fmt.Sprintf("%.2fs", r.cpuRun.Seconds())
		flipCPU = fmt.Sprintf("%.2fs/%.0fs", r.cpuFlips.Seconds(), r.flipPhase.Seconds())
		rss, hwm = mib(r.rssPeak), mib(r.hwm)
	}
	fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
		cfg.addr, cfg.checks, cfg.interval, r.flipped, r.arrived,
		fmtLatency(d.Percentile(50)), fmtLatency(d.Percentile(90)), fmtLatency(d.Percentile(99)), fmtLatency(d.Max()),
		fmtLatency(r.probeLag.Percentile(50)), cpu, flipCPU, rss, hwm)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.agentCPU) > 0 {
		names := slices.Sorted(maps.Keys(r.agentCPU))
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s %.2fs (%.2fs in the flip phase)", n, r.agentCPU[n].Seconds(), r.agentCPUFlipPhase[n].Seconds()))
		}
		fmt.Fprintf(w, "agent CPU over the run: %s\n", strings.Join(parts, ", "))
	}
	if r.unexpected > 0 {
		fmt.Fprintf(w, "unexpected: %d of the bench's checks went critical without a flip\n", r.unexpected)
	}
	if r.procErr != "" {
		fmt.Fprintf(w, "process figures: %s\n", r.procErr)
	}
	if r.firstError != "" {
		_, err := fmt.Fprintf(w, "first error: %s\n", r.firstError)
		return err
	}
	return nil
}
