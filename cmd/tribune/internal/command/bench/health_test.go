package bench

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseHealth(t *testing.T) {
	defaults := healthConfig{
		addr: "127.0.0.1:8500", listen: "127.0.0.1:0", checks: 1000, interval: 10 * time.Second,
		checkTimeout: 5 * time.Second, flips: 200, duration: time.Minute, wait: 2 * time.Minute, prefix: "bench-hc-",
	}
	with := func(f func(*healthConfig)) *healthConfig {
		c := defaults
		f(&c)
		return &c
	}
	tests := []struct {
		name    string
		args    []string
		want    *healthConfig
		wantErr string
	}{
		{name: "defaults", args: nil, want: &defaults},
		{name: "the issue's command", args: []string{"-addr", "127.0.0.1:18500", "-checks", "1000", "-interval", "10s", "-flips", "200"},
			want: with(func(c *healthConfig) { c.addr = "127.0.0.1:18500" })},
		{name: "http scheme stripped", args: []string{"-addr=http://127.0.0.1:18500/"},
			want: with(func(c *healthConfig) { c.addr = "127.0.0.1:18500" })},
		{name: "everything", args: []string{"-listen=127.0.0.1:9000", "-checks=10", "-interval=1s", "-check-timeout=500ms",
			"-flips=0", "-duration=5s", "-wait=30s", "-pid=42", "-prefix=hc.", "-json"},
			want: with(func(c *healthConfig) {
				c.listen, c.checks, c.interval, c.checkTimeout, c.flips, c.duration, c.wait, c.pid, c.prefix, c.json =
					"127.0.0.1:9000", 10, time.Second, 500*time.Millisecond, 0, 5*time.Second, 30*time.Second, 42, "hc.", true
			})},
		{name: "flips equal checks", args: []string{"-checks=5", "-flips=5"},
			want: with(func(c *healthConfig) { c.checks, c.flips = 5, 5 })},
		{name: "addr without port", args: []string{"-addr=localhost"}, wantErr: `-addr must be host:port, not "localhost"`},
		{name: "addr with bad port", args: []string{"-addr=127.0.0.1:http"}, wantErr: `-addr must be host:port`},
		{name: "bad listen", args: []string{"-listen=:99999"}, wantErr: `-listen must be host:port, not ":99999"`},
		{name: "zero checks", args: []string{"-checks=0"}, wantErr: "-checks must be at least 1, not 0"},
		{name: "too many checks", args: []string{"-checks=100001", "-flips=1"}, wantErr: "-checks must be at most 100000"},
		{name: "negative flips", args: []string{"-flips=-1"}, wantErr: "-flips must not be negative, not -1"},
		{name: "more flips than checks", args: []string{"-checks=10"}, wantErr: "-flips (200) must be at most -checks (10)"},
		{name: "zero interval", args: []string{"-interval=0s"}, wantErr: "-interval must be positive, not 0s"},
		{name: "bad interval", args: []string{"-interval=10"}, wantErr: `invalid value "10" for flag -interval`},
		{name: "zero check timeout", args: []string{"-check-timeout=0s"}, wantErr: "-check-timeout must be positive"},
		{name: "zero duration", args: []string{"-duration=0s"}, wantErr: "-duration must be positive, not 0s"},
		{name: "negative wait", args: []string{"-wait=-1s"}, wantErr: "-wait must be positive, not -1s"},
		{name: "negative pid", args: []string{"-pid=-5"}, wantErr: "-pid must not be negative, not -5"},
		{name: "empty prefix", args: []string{"-prefix="}, wantErr: "-prefix must be non-empty"},
		{name: "slash in prefix", args: []string{"-prefix=a/"}, wantErr: "-prefix must be non-empty and hold only"},
		{name: "positional argument", args: []string{"now"}, wantErr: `unexpected argument "now"`},
		{name: "unknown flag", args: []string{"-target=http"}, wantErr: "flag provided but not defined: -target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkParse(t, "parseHealth", parseHealth, tt.args, tt.want, tt.wantErr) })
	}
}

// fakeAgent is a tiny agent: it probes the HTTP checks of the services
// registered with it on their interval and answers /v1/health/state with
// blocking queries.
type fakeAgent struct {
	// ignoreFailures keeps checks passing whatever the probe answers.
	ignoreFailures bool

	mu           sync.Mutex
	index        uint64
	changed      chan struct{}
	checks       map[string]*fakeCheck // by check ID
	registered   int
	deregistered int
}

type fakeCheck struct {
	serviceID, status string
	stop              chan struct{}
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{index: 1, changed: make(chan struct{}), checks: map[string]*fakeCheck{}}
}

// bump records a change; f.mu is held.
func (f *fakeAgent) bump() {
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeAgent) probe(id, url string, every time.Duration, stop chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		status := "critical"
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || f.ignoreFailures {
				status = "passing"
			}
		}
		f.mu.Lock()
		if c := f.checks[id]; c != nil && c.status != status {
			c.status = status
			f.bump()
		}
		f.mu.Unlock()
	}
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/v1/agent/service/register":
		var def struct {
			ID, Name string
			Check    struct{ HTTP, Interval, Timeout string }
		}
		if err := json.NewDecoder(r.Body).Decode(&def); err != nil || def.ID == "" || def.ID != def.Name || def.Check.HTTP == "" {
			http.Error(w, "bad service definition", http.StatusBadRequest)
			return
		}
		every, err := time.ParseDuration(def.Check.Interval)
		if _, terr := time.ParseDuration(def.Check.Timeout); err != nil || terr != nil {
			http.Error(w, "bad interval or timeout", http.StatusBadRequest)
			return
		}
		c := &fakeCheck{serviceID: def.ID, status: "critical", stop: make(chan struct{})}
		f.mu.Lock()
		f.checks["service:"+def.ID] = c
		f.registered++
		f.bump()
		f.mu.Unlock()
		go f.probe("service:"+def.ID, def.Check.HTTP, every, c.stop)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/agent/service/deregister/"):
		id := "service:" + strings.TrimPrefix(r.URL.Path, "/v1/agent/service/deregister/")
		f.mu.Lock()
		if c := f.checks[id]; c != nil {
			close(c.stop)
			delete(f.checks, id)
			f.deregistered++
			f.bump()
		}
		f.mu.Unlock()
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/health/state/"):
		state := strings.TrimPrefix(r.URL.Path, "/v1/health/state/")
		min, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
		wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
		timeout := time.After(wait)
		timedOut := false
		f.mu.Lock()
		for min > 0 && f.index <= min && !timedOut {
			ch := f.changed
			f.mu.Unlock()
			select {
			case <-ch:
			case <-timeout:
				timedOut = true
			case <-r.Context().Done():
				return
			}
			f.mu.Lock()
		}
		out := []stateCheck{}
		for id, c := range f.checks {
			if state == "any" || c.status == state {
				out = append(out, stateCheck{CheckID: id, ServiceID: c.serviceID, Status: c.status})
			}
		}
		w.Header().Set("X-Consul-Index", strconv.FormatUint(f.index, 10))
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(out)
	default:
		http.NotFound(w, r)
	}
}

func TestHealthBench(t *testing.T) {
	f := newFakeAgent()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	code, out, errOut := cli.Run(t, "", "health", "-json", "-addr="+addr, "-checks=20", "-interval=50ms",
		"-flips=6", "-duration=300ms", "-wait=10s", "-pid="+strconv.Itoa(os.Getpid()))
	if code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var got healthJSONResult
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q is not one JSON object: %v", out, err)
	}
	if got.Flipped != 6 || got.Arrived != 6 || got.UnexpectedCritical != 0 || got.FirstError != "" || got.Probes == 0 {
		t.Errorf("result %+v: want 6 flips arrived", got)
	}
	d, lag := got.DelayMs, got.ProbeLagMs
	if !(d.P50 > 0 && d.P50 <= d.P99 && d.P99 <= d.Max && d.Max < 5000) {
		t.Errorf("delays %+v: want 0 < p50 <= p99 <= max < 5s", d)
	}
	if !(lag.Max > 0 && lag.Max < 5000) {
		t.Errorf("probe lags %+v: want them within the interval, give or take", lag)
	}
	if got.HealthPID != os.Getpid() || got.RSSPeakBytes == 0 || got.VmHWMBytes < got.RSSPeakBytes/2 || got.CPUSeconds < 0 {
		t.Errorf("process figures %+v: want this process's", got)
	}
	if got.FlipPhaseSeconds < 0.25 {
		t.Errorf("flip phase %.3fs, want the flips spread over 300ms", got.FlipPhaseSeconds)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.registered != 20 || f.deregistered != 20 || len(f.checks) != 0 {
		t.Errorf("agent saw %d registrations and %d deregistrations, %d left; want 20, 20, 0", f.registered, f.deregistered, len(f.checks))
	}
}

func TestHealthBenchMissedFlips(t *testing.T) {
	f := newFakeAgent()
	f.ignoreFailures = true
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	code, out, _ := cli.Run(t, "", "health", "-addr="+srv.URL, "-checks=4", "-interval=20ms",
		"-flips=2", "-duration=40ms", "-wait=300ms", "-pid="+strconv.Itoa(os.Getpid()))
	if code != 1 || !strings.Contains(out, "first error: 2 flipped checks never reached the catalog within -wait 300ms") {
		t.Errorf("exit %d, output %q: want exit 1 and the missed flips", code, out)
	}
	lines := strings.Split(out, "\n")
	if hdr := strings.Fields(lines[0]); len(hdr) == 0 || hdr[0] != "addr" {
		t.Errorf("output %q: want a table", out)
	}
}

// writeProc writes a fake /proc/<pid> with a stat and cmdline.
func writeProc(t *testing.T, root string, pid, ppid int, comm string, utime, stime uint64, args ...string) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (%s) S %d 1 1 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 10 0 1000 123456 789 18446744073709551615\n",
		pid, comm, ppid, utime, stime)
	status := "Name:\ttribune\nVmPeak:\t 2000000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\nThreads:\t10\n"
	for name, data := range map[string]string{
		"stat": stat, "status": status, "cmdline": strings.Join(args, "\x00") + "\x00",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestProcFS(t *testing.T) {
	root := t.TempDir()
	old := procRoot
	procRoot = root
	t.Cleanup(func() { procRoot = old })

	// Agent A (supervisor 50) on 18500, agent B (supervisor 60) on 8500.
	writeProc(t, root, 100, 50, "tribune", 1, 1, "/tmp/x/tribune", "service", "gateway", "-http-addr", "127.0.0.1:18500")
	writeProc(t, root, 101, 50, "tribune", 250, 50, "/tmp/x/tribune", "service", "health", "-node", "vm")
	writeProc(t, root, 102, 50, "tribune", 1, 1, "/tmp/x/tribune", "service", "registry")
	writeProc(t, root, 200, 60, "tribune-dev", 1, 1, "/usr/bin/tribune-dev", "service", "gateway", "--http-addr=0.0.0.0:8500")
	writeProc(t, root, 201, 60, "tribune-dev", 1, 1, "/usr/bin/tribune-dev", "service", "health")
	writeProc(t, root, 202, 60, "service", 1, 1, "/usr/sbin/service", "health", "status")
	writeProc(t, root, 300, 1, "sh", 1, 1, "/bin/sh", "-c", "tribune service health")
	writeProc(t, root, 301, 50, "tribune", 1, 1, "/tmp/x/tribune", "agent", "-dev")
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		addr    string
		want    map[string]int
		wantErr string
	}{
		{addr: "127.0.0.1:18500", want: map[string]int{"gateway": 100, "health": 101, "registry": 102}},
		{addr: "127.0.0.1:8500", want: map[string]int{"gateway": 200, "health": 201}},
		{addr: "127.0.0.1:9999", wantErr: "2 `tribune service health` processes and no gateway with -http-addr 127.0.0.1:9999: give -pid"},
	} {
		got, err := findAgentServices(tt.addr)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("findAgentServices(%s) = %v, %v; want error %q", tt.addr, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("findAgentServices(%s) = %v, %v; want %v", tt.addr, got, err, tt.want)
		}
	}

	s, err := readProc(101)
	if err != nil || s.cpu != 3*time.Second || s.rss != 30<<20 || s.hwm != 40<<20 {
		t.Errorf("readProc(101) = %+v, %v; want 3s of CPU, 30 MiB resident, 40 MiB peak", s, err)
	}
	if _, err := readProc(999); err == nil {
		t.Error("readProc(999) succeeded, want an error for a missing process")
	}

	// With one health process, it is found whatever the address.
	if err := os.RemoveAll(filepath.Join(root, "201")); err != nil {
		t.Fatal(err)
	}
	got, err := findAgentServices("127.0.0.1:1")
	if err != nil || got["health"] != 101 {
		t.Errorf("findAgentServices with one health process = %v, %v; want health 101", got, err)
	}
	if err := os.RemoveAll(filepath.Join(root, "101")); err != nil {
		t.Fatal(err)
	}
	if _, err := findAgentServices("127.0.0.1:18500"); err == nil || !strings.Contains(err.Error(), "no `tribune service health` process") {
		t.Errorf("findAgentServices without health = %v, want an error", err)
	}
}

func TestParseStat(t *testing.T) {
	for _, tt := range []struct {
		line    string
		ppid    int
		cpu     time.Duration
		wantErr string
	}{
		{line: "7 (tribune) S 3 7 7 0 -1 0 1 0 0 0 120 30 0 0", ppid: 3, cpu: 1500 * time.Millisecond},
		{line: "7 (a) b) (c) R 9 7 7 0 -1 0 1 0 0 0 1 2 0 0", ppid: 9, cpu: 30 * time.Millisecond},
		{line: "7 tribune S 3", wantErr: "no command name"},
		{line: "7 (x) S 3 7 7", wantErr: "want at least 13"},
		{line: "7 (x) S 3 7 7 0 -1 0 1 0 0 0 ab 30 0", wantErr: "utime"},
	} {
		got, err := parseStat([]byte(tt.line))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseStat(%q) = %+v, %v; want error with %q", tt.line, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.ppid != tt.ppid || got.cpu != tt.cpu {
			t.Errorf("parseStat(%q) = %+v, %v; want ppid %d, cpu %s", tt.line, got, err, tt.ppid, tt.cpu)
		}
	}
	if _, err := statusKB([]byte("VmRSS:\t12 MB\n"), "VmRSS"); err == nil {
		t.Error("statusKB accepted MB")
	}
	if _, err := statusKB([]byte("VmHWM:\t12 kB\n"), "VmRSS"); err == nil {
		t.Error("statusKB found a missing key")
	}
}

func TestListenAddrs(t *testing.T) {
	for _, tt := range []struct {
		listen, addr string
		want         bool
	}{
		{"127.0.0.1:8500", "127.0.0.1:8500", true},
		{"0.0.0.0:8500", "127.0.0.1:8500", true},
		{"[::]:8500", "127.0.0.1:8500", true},
		{":8500", "127.0.0.1:8500", true},
		{"127.0.0.1:8500", "127.0.0.1:18500", false},
		{"10.0.0.1:8500", "127.0.0.1:8500", false},
		{"unix:///x.sock", "127.0.0.1:8500", false},
	} {
		if got := sameListenAddr(tt.listen, tt.addr); got != tt.want {
			t.Errorf("sameListenAddr(%q, %q) = %v, want %v", tt.listen, tt.addr, got, tt.want)
		}
	}
	args := []string{"-node", "vm", "--http-addr=1.2.3.4:5", "-grpc-addr", "x"}
	if v, ok := flagValue(args, "http-addr"); !ok || v != "1.2.3.4:5" {
		t.Errorf("flagValue(http-addr) = %q, %v", v, ok)
	}
	if v, ok := flagValue(args, "grpc-addr"); !ok || v != "x" {
		t.Errorf("flagValue(grpc-addr) = %q, %v", v, ok)
	}
	if _, ok := flagValue(args, "data-dir"); ok {
		t.Error("flagValue found a missing flag")
	}
}
