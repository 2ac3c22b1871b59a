package checks

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

const wait = 5 * time.Second // the most any condition below may take

func httpCheck(id, url string, interval time.Duration) *agentv1.CheckDefinition {
	return &agentv1.CheckDefinition{CheckId: id, Name: id, Http: url, Interval: dur(interval)}
}

func TestRunnerHTTPFlips(t *testing.T) {
	srv := newCodeServer(t, http.StatusOK)
	rec := newRecorder(t)
	r := newRunner(t, testConfig(), rec)
	if err := r.Add(httpCheck("web", srv.URL, 10*time.Millisecond), ""); err != nil {
		t.Fatal(err)
	}
	out := func(code int) string {
		return fmt.Sprintf("HTTP GET %s: %d %s Output: %s", srv.URL, code, http.StatusText(code), http.StatusText(code))
	}
	for _, step := range []struct {
		code   int
		status string
	}{{200, Passing}, {503, Critical}, {429, Warning}, {200, Passing}} {
		srv.code.Store(int32(step.code))
		want := event{step.status, out(step.code)}
		waitFor(t, wait, func() bool { return rec.last("web") == want }, "%v", want)
		if s, o, _ := r.Status("web"); s != want.status || o != want.output {
			t.Errorf("Status() = %q, %q", s, o)
		}
	}
	// An unchanged result is not reported again.
	hits := srv.hits.Load()
	waitFor(t, wait, func() bool { return srv.hits.Load() >= hits+5 }, "5 more probes")
	if got := len(rec.get("web")); got != 4 {
		t.Errorf("%d reports, want 4: %v", got, rec.get("web"))
	}
}

func TestRunnerTCP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	rec := newRecorder(t)
	r := newRunner(t, testConfig(), rec)
	if err := r.Add(&agentv1.CheckDefinition{Name: "db", Tcp: addr, Interval: dur(10 * time.Millisecond)}, Critical); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, func() bool { return rec.last("db") == event{Passing, "TCP connect " + addr + ": Success"} }, "passing")
	lis.Close()
	waitFor(t, wait, func() bool { return rec.last("db").status == Critical }, "critical")
	if got := rec.last("db").output; !strings.Contains(got, "connection refused") {
		t.Errorf("output = %q", got)
	}
}

func TestRunnerGRPC(t *testing.T) {
	addr, hs, _ := grpcServer(t, nil)
	rec := newRecorder(t)
	r := newRunner(t, testConfig(), rec)
	if err := r.Add(&agentv1.CheckDefinition{Name: "g", Grpc: addr + "/api.Orders", Interval: dur(10 * time.Millisecond)}, ""); err != nil {
		t.Fatal(err)
	}
	hs.SetServingStatus("api.Orders", healthpb.HealthCheckResponse_SERVING)
	waitFor(t, wait, func() bool { return rec.last("g") == event{Passing, "gRPC check " + addr + "/api.Orders: success"} }, "passing")
	hs.SetServingStatus("api.Orders", healthpb.HealthCheckResponse_NOT_SERVING)
	waitFor(t, wait, func() bool {
		return rec.last("g") == event{Critical, "gRPC " + addr + "/api.Orders serving status: NOT_SERVING"}
	}, "critical")
	hs.SetServingStatus("api.Orders", healthpb.HealthCheckResponse_SERVING)
	waitFor(t, wait, func() bool { return rec.last("g").status == Passing }, "passing again")
}

func TestRunnerTTL(t *testing.T) {
	rec := newRecorder(t)
	r := newRunner(t, testConfig(), rec)
	ttl := func(id string, d time.Duration) {
		t.Helper()
		if err := r.Add(&agentv1.CheckDefinition{Name: id, Ttl: dur(d)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	update := func(id, status, output string) {
		t.Helper()
		if err := r.UpdateTTL(id, status, output); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("updates", func(t *testing.T) {
		ttl("app", time.Hour)
		if s, _, _ := r.Status("app"); s != Critical {
			t.Errorf("starting status %q, want critical", s)
		}
		update("app", Passing, "all good")
		update("app", Warning, "slow")
		update("app", Critical, "down")
		update("app", Critical, "down") // unchanged: not reported
		update("app", Passing, "")
		want := []event{{Passing, "all good"}, {Warning, "slow"}, {Critical, "down"}, {Passing, ""}}
		if got := rec.get("app"); !slices.Equal(got, want) {
			t.Errorf("reports %v, want %v", got, want)
		}
	})

	t.Run("expiry with output", func(t *testing.T) {
		ttl("exp", 100*time.Millisecond)
		update("exp", Passing, "last words")
		want := event{Critical, "TTL expired (last output before timeout follows): last words"}
		waitFor(t, wait, func() bool { return rec.last("exp") == want }, "%v", want)
		// Updating revives it.
		update("exp", Passing, "back")
		if got := rec.last("exp"); got != (event{Passing, "back"}) {
			t.Errorf("after revival %v", got)
		}
	})

	t.Run("expiry without output", func(t *testing.T) {
		ttl("quiet", 100*time.Millisecond)
		update("quiet", Passing, "")
		waitFor(t, wait, func() bool { return rec.last("quiet") == event{Critical, "TTL expired"} }, "TTL expired")
		// A check never updated expires as well; being critical already,
		// only its output changes.
		ttl("never", 50*time.Millisecond)
		waitFor(t, wait, func() bool { return rec.last("never") == event{Critical, "TTL expired"} }, "TTL expired")
	})

	t.Run("updates reset the deadline", func(t *testing.T) {
		const d = 250 * time.Millisecond
		ttl("beat", d)
		start := time.Now()
		tick := time.NewTicker(d / 5)
		var lastBeat time.Time
		for i := 0; i < 10; i++ { // 10 beats over 2 TTLs
			<-tick.C
			lastBeat = time.Now()
			update("beat", Passing, "alive")
		}
		tick.Stop()
		if got := rec.get("beat"); len(got) != 1 || got[0] != (event{Passing, "alive"}) {
			t.Fatalf("reports while beating for %s: %v", time.Since(start), got)
		}
		waitFor(t, wait, func() bool { return rec.last("beat").status == Critical }, "expiry")
		if since := time.Since(lastBeat); since < d {
			t.Errorf("expired %s after the last update, TTL %s", since, d)
		}
	})

	t.Run("output cut", func(t *testing.T) {
		ttl("long", time.Hour)
		update("long", Passing, strings.Repeat("y", 5000))
		want := strings.Repeat("y", 4096) + " ... (captured 4096 of 5000 bytes)"
		if got := rec.last("long"); got.output != want {
			t.Errorf("output %d bytes: %.40q...", len(got.output), got.output)
		}
		update("long", Passing, strings.Repeat("y", 4095)+"éé")
		want = strings.Repeat("y", 4095) + " ... (captured 4095 of 4099 bytes)"
		if got := rec.last("long"); got.output != want {
			t.Errorf("cut inside a character: %d bytes, ends %q", len(got.output), got.output[len(got.output)-40:])
		}
	})
}

func TestUpdateTTLErrors(t *testing.T) {
	srv := newCodeServer(t, 200)
	r := newRunner(t, testConfig(), newRecorder(t))
	if err := r.Add(httpCheck("web", srv.URL, time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(&agentv1.CheckDefinition{Name: "app", Ttl: dur(time.Hour)}, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id, status string
		want       error
	}{
		{"nope", Passing, ErrUnknownCheck},
		{"web", Passing, ErrNotTTL},
		{"app", "fine", ErrInvalidStatus},
		{"app", "", ErrInvalidStatus},
	}
	for _, tt := range tests {
		if err := r.UpdateTTL(tt.id, tt.status, "x"); !errors.Is(err, tt.want) {
			t.Errorf("UpdateTTL(%q, %q) = %v, want %v", tt.id, tt.status, err, tt.want)
		}
	}
	r.Remove("app")
	if err := r.UpdateTTL("app", Passing, ""); !errors.Is(err, ErrUnknownCheck) {
		t.Errorf("UpdateTTL after Remove = %v", err)
	}
}

// TestThresholds runs result sequences through Consul's rules: passing and
// warning count as successes, critical as failures, and the first result
// is taken whatever the thresholds.
func TestThresholds(t *testing.T) {
	const P, W, C = Passing, Warning, Critical
	tests := []struct {
		name           string
		succ, fail     int
		initial        string
		results, wants []string // wants: the statuses reported
	}{
		{"no thresholds", 0, 0, C, []string{P, C, C, W, P}, []string{P, C, W, P}},
		{"failures before critical", 0, 3, P, []string{P, C, C, C, C, P, C, C, P}, []string{P, C, P}},
		{"failures must be consecutive", 0, 2, P, []string{P, C, P, C, P, C, C}, []string{P, C}},
		{"first result taken at once", 2, 0, C, []string{P}, []string{P}},
		{"success before passing", 2, 0, C, []string{C, P, C, P, P, P}, []string{C, P}},
		{"warning counts as success", 2, 2, P, []string{P, C, W, C, C, W, W, C, P}, []string{P, C, W}},
		{"warning resets failures", 0, 2, P, []string{C, W, C, W, C}, []string{C, W}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			r := &Runner{report: func(_, status, _ string) { got = append(got, status) }}
			c := &check{r: r, id: "x", status: tt.initial,
				successBefore: tt.succ, failuresBefore: tt.fail, successes: tt.succ, failures: tt.fail}
			for _, res := range tt.results {
				c.result(res, res) // output = status, so only changes report
			}
			if !slices.Equal(got, tt.wants) {
				t.Errorf("reported %v, want %v", got, tt.wants)
			}
		})
	}
}

// TestRunnerThresholdsHTTP plays a sequence of response codes, one per
// probe, to a check with both thresholds.
func TestRunnerThresholdsHTTP(t *testing.T) {
	codes := []int{200, 503, 503, 200, 503, 503, 503, 200, 200, 429, 200}
	var (
		mu   sync.Mutex
		next int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		code := codes[min(next, len(codes)-1)]
		next++
		mu.Unlock()
		w.WriteHeader(code)
	}))
	defer srv.Close()
	rec := newRecorder(t)
	r := newRunner(t, testConfig(), rec)
	def := httpCheck("web", srv.URL, 5*time.Millisecond)
	def.SuccessBeforePassing, def.FailuresBeforeCritical = 2, 3
	if err := r.Add(def, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, func() bool { mu.Lock(); defer mu.Unlock(); return next > len(codes)+2 }, "the sequence")
	var got []string
	for _, e := range rec.get("web") {
		got = append(got, e.status)
	}
	// 200: first result, taken. 503 503: two failures, not three. 200 503
	// 503 503: critical on the third. 200 200: passing on the second. 429:
	// a success, warning. 200: passing.
	want := []string{Passing, Critical, Passing, Warning, Passing}
	if !slices.Equal(got, want) {
		t.Errorf("reported %v, want %v", got, want)
	}
}

func TestRunnerAddReplaceRemove(t *testing.T) {
	a, b := newCodeServer(t, 200), newCodeServer(t, 503)
	rec := newRecorder(t)
	r := newRunner(t, testConfig(), rec)
	if err := r.Add(httpCheck("web", a.URL, 5*time.Millisecond), Passing); err != nil {
		t.Fatal(err)
	}
	if s, _, ok := r.Status("web"); !ok || s != Passing {
		t.Errorf("Status() = %q, %v", s, ok)
	}
	waitFor(t, wait, func() bool { return a.hits.Load() >= 3 }, "probes of a")

	if err := r.Add(httpCheck("web", b.URL, 5*time.Millisecond), ""); err != nil {
		t.Fatal(err)
	}
	replacedAt := len(rec.get("web"))
	waitFor(t, wait, func() bool { return b.hits.Load() >= 3 }, "probes of b")
	for _, e := range rec.get("web")[replacedAt:] {
		if strings.Contains(e.output, a.URL) {
			t.Errorf("report from the replaced check: %v", e)
		}
	}
	if last := rec.last("web"); last.status != Critical || !strings.Contains(last.output, b.URL) {
		t.Errorf("last report %v", last)
	}

	b.code.Store(200)
	r.Remove("web")
	removedAt := len(rec.get("web"))
	hits := b.hits.Load()
	if _, _, ok := r.Status("web"); ok {
		t.Error("Status() of a removed check")
	}
	// A later check's probes show time has passed; the removed one stays
	// silent.
	c := newCodeServer(t, 200)
	if err := r.Add(httpCheck("other", c.URL, 5*time.Millisecond), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, func() bool { return c.hits.Load() >= 5 }, "probes of other")
	if got := len(rec.get("web")); got != removedAt {
		t.Errorf("%d reports after Remove", got-removedAt)
	}
	// The probe in flight when Remove came may still reach the server.
	if got := b.hits.Load(); got > hits+1 {
		t.Errorf("%d probes after Remove", got-hits)
	}
	r.Remove("never-added") // no-op
}

func TestRunnerAddErrors(t *testing.T) {
	r := newRunner(t, testConfig(), newRecorder(t))
	if err := r.Add(&agentv1.CheckDefinition{Name: "web", Http: "http://a/"}, ""); !errors.Is(err, ErrInvalidDefinition) ||
		err.Error() != `check "web": interval must be set for an HTTP check` {
		t.Errorf("Add(no interval) = %v", err)
	}
	if err := r.Add(&agentv1.CheckDefinition{Name: "s", Args: []string{"true"}, Interval: dur(time.Second)}, ""); !errors.Is(err, ErrScriptChecksDisabled) {
		t.Errorf("Add(script) = %v", err)
	}
	if err := r.Add(&agentv1.CheckDefinition{Name: "app", Ttl: dur(time.Hour)}, "maintenance"); !errors.Is(err, ErrInvalidStatus) {
		t.Errorf("Add(bad initial status) = %v", err)
	}
	if err := r.Add(&agentv1.CheckDefinition{Name: "app", Ttl: dur(time.Hour), Status: Warning}, ""); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := r.Status("app"); s != Warning {
		t.Errorf("starting status %q, want the definition's warning", s)
	}
}

func TestRunnerFloors(t *testing.T) {
	cfg := DefaultConfig() // 1 s and 1 m floors
	r := newRunner(t, cfg, newRecorder(t))
	def := httpCheck("web", "http://127.0.0.1:1/", 10*time.Millisecond)
	def.ServiceId = "web"
	def.DeregisterCriticalServiceAfter = dur(time.Second)
	if err := r.Add(def, Passing); err != nil {
		t.Fatal(err)
	}
	node := &agentv1.CheckDefinition{Name: "node", Ttl: dur(time.Hour), DeregisterCriticalServiceAfter: dur(time.Hour)}
	if err := r.Add(node, ""); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	web, n := r.checks["web"], r.checks["node"]
	r.mu.Unlock()
	if web.interval != time.Second || web.criticalAfter != time.Minute {
		t.Errorf("interval %s, critical after %s; want the 1s and 1m floors", web.interval, web.criticalAfter)
	}
	if n.criticalAfter != 0 {
		t.Errorf("a node-level check deregisters after %s", n.criticalAfter)
	}
}

func TestRunnerCriticalTooLong(t *testing.T) {
	t.Run("probed", func(t *testing.T) {
		srv := newCodeServer(t, 503)
		rec := newRecorder(t)
		r := newRunner(t, testConfig(), rec)
		def := httpCheck("web", srv.URL, 5*time.Millisecond)
		def.ServiceId = "web"
		def.DeregisterCriticalServiceAfter = dur(100 * time.Millisecond)
		if err := r.Add(def, Passing); err != nil {
			t.Fatal(err)
		}
		waitFor(t, wait, func() bool { return len(rec.criticalCalls("web")) == 1 }, "the critical notice")
		hits := srv.hits.Load()
		waitFor(t, wait, func() bool { return srv.hits.Load() >= hits+10 }, "10 more probes")
		if n := len(rec.criticalCalls("web")); n != 1 {
			t.Errorf("told %d times in one critical spell", n)
		}
		// A new spell is told again.
		srv.code.Store(200)
		waitFor(t, wait, func() bool { return rec.last("web").status == Passing }, "passing")
		srv.code.Store(503)
		waitFor(t, wait, func() bool { return len(rec.criticalCalls("web")) == 2 }, "the second notice")
	})

	t.Run("timed from the critical transition", func(t *testing.T) {
		const after = 200 * time.Millisecond
		rec := newRecorder(t)
		r := newRunner(t, testConfig(), rec)
		// Starts critical: the clock runs from Add.
		if err := r.Add(&agentv1.CheckDefinition{Name: "app", ServiceId: "app", Ttl: dur(time.Hour),
			DeregisterCriticalServiceAfter: dur(after)}, ""); err != nil {
			t.Fatal(err)
		}
		if err := r.UpdateTTL("app", Passing, ""); err != nil {
			t.Fatal(err)
		}
		// Recovered before the deadline; a warning does not restart it.
		if err := r.UpdateTTL("app", Warning, ""); err != nil {
			t.Fatal(err)
		}
		went := time.Now()
		if err := r.UpdateTTL("app", Critical, "down"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, wait, func() bool { return len(rec.criticalCalls("app")) == 1 }, "the critical notice")
		if d := rec.criticalCalls("app")[0].Sub(went); d < after {
			t.Errorf("told %s after going critical, want >= %s", d, after)
		}
	})

	t.Run("node-level checks are not told", func(t *testing.T) {
		rec := newRecorder(t)
		r := newRunner(t, testConfig(), rec)
		for _, id := range []string{"node", "svc"} {
			def := &agentv1.CheckDefinition{Name: id, Ttl: dur(time.Hour), DeregisterCriticalServiceAfter: dur(20 * time.Millisecond)}
			if id == "svc" {
				def.ServiceId = "svc"
			}
			if err := r.Add(def, ""); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, wait, func() bool { return len(rec.criticalCalls("svc")) == 1 }, "the service check's notice")
		if n := len(rec.criticalCalls("node")); n != 0 {
			t.Errorf("node-level check told %d times", n)
		}
	})

	t.Run("the callback may remove the check", func(t *testing.T) {
		var r *Runner
		removed := make(chan string, 1)
		r, err := NewRunner(testConfig(), func(string, string, string) {}, func(id string) {
			r.Remove(id)
			removed <- id
		})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Add(&agentv1.CheckDefinition{Name: "app", ServiceId: "app", Ttl: dur(time.Hour),
			DeregisterCriticalServiceAfter: dur(10 * time.Millisecond)}, ""); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-removed:
			if _, _, ok := r.Status(id); ok {
				t.Error("still running")
			}
		case <-time.After(wait):
			t.Fatal("no critical notice")
		}
	})
}

func TestRunnerCloseDuringCriticalCallback(t *testing.T) {
	entered, closing, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var r *Runner
	r, err := NewRunner(testConfig(), func(string, string, string) {}, func(id string) {
		close(entered)
		<-closing
		r.Remove(id) // Close is waiting for this callback
		if err := r.Add(&agentv1.CheckDefinition{Name: "again", Ttl: dur(time.Hour)}, ""); !errors.Is(err, ErrClosed) {
			t.Errorf("Add during Close = %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(&agentv1.CheckDefinition{Name: "app", ServiceId: "app", Ttl: dur(time.Hour),
		DeregisterCriticalServiceAfter: dur(10 * time.Millisecond)}, ""); err != nil {
		t.Fatal(err)
	}
	<-entered
	go func() {
		defer close(done)
		r.Close()
	}()
	// Let Close get as far as waiting for the callback.
	waitFor(t, wait, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.closed }, "Close to start")
	close(closing)
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Close deadlocked with a CriticalFunc calling Remove")
	}
}

// TestRunnerConcurrencyBound runs 200 checks through 4 probe slots and
// counts, in the server, how many probes are in flight at once.
func TestRunnerConcurrencyBound(t *testing.T) {
	const checks, slots = 200, 4
	var (
		inFlight, most atomic.Int32
		mu             sync.Mutex
		probes         = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(2 * time.Millisecond) // the target's work, so that probes overlap
		mu.Lock()
		probes[r.URL.Path]++
		mu.Unlock()
	}))
	defer srv.Close()
	cfg := testConfig()
	cfg.MaxConcurrentProbes = slots
	r := newRunner(t, cfg, newRecorder(t))
	for i := range checks {
		if err := r.Add(httpCheck(fmt.Sprint("c", i), fmt.Sprintf("%s/%d", srv.URL, i), 50*time.Millisecond), ""); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(probes) < checks {
			return false
		}
		for _, n := range probes {
			if n < 2 {
				return false
			}
		}
		return true
	}, "every check probed twice")
	// Read before Close: Close abandons probes in flight, whose requests
	// the server may still be serving while other checks are not yet
	// stopped.
	got := most.Load()
	r.Close()
	t.Logf("at most %d probes at once", got)
	if got > slots {
		t.Errorf("%d probes at once, want at most %d", got, slots)
	}
	if got < 2 {
		t.Errorf("at most %d probe at once: the bound was never approached", got)
	}
}

// TestRunnerStagger adds checks together and sees their first probes
// spread over the interval instead of firing at once.
func TestRunnerStagger(t *testing.T) {
	const checks, interval = 40, 600 * time.Millisecond
	var (
		mu    sync.Mutex
		first = map[string]time.Time{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := first[r.URL.Path]; !ok {
			first[r.URL.Path] = time.Now()
		}
	}))
	defer srv.Close()
	r := newRunner(t, testConfig(), newRecorder(t))
	start := time.Now()
	for i := range checks {
		if err := r.Add(httpCheck(fmt.Sprint("c", i), fmt.Sprintf("%s/%d", srv.URL, i), interval), ""); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, wait, func() bool { mu.Lock(); defer mu.Unlock(); return len(first) == checks }, "every first probe")
	r.Close()
	var earliest, latest time.Duration = time.Hour, 0
	for _, at := range first {
		d := at.Sub(start)
		earliest, latest = min(earliest, d), max(latest, d)
	}
	t.Logf("first probes from %s to %s after adding", earliest, latest)
	if latest > interval+interval/2 {
		t.Errorf("a first probe came %s after adding, interval %s", latest, interval)
	}
	if latest-earliest < interval/3 {
		t.Errorf("first probes within %s of each other: not staggered over %s", latest-earliest, interval)
	}
	for range 1000 {
		if d := stagger(interval); d < 0 || d >= interval {
			t.Fatalf("stagger(%s) = %s", interval, d)
		}
	}
}

func TestRunnerClose(t *testing.T) {
	srv := newCodeServer(t, 200)
	rec := newRecorder(t)
	r, err := NewRunner(testConfig(), rec.report, rec.onCritical)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := r.Add(httpCheck(fmt.Sprint("c", i), srv.URL, 5*time.Millisecond), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Add(&agentv1.CheckDefinition{Name: "app", Ttl: dur(10 * time.Millisecond)}, Passing); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, func() bool { return srv.hits.Load() >= 40 }, "probes")
	r.Close()
	r.Close() // idempotent
	if err := r.Add(httpCheck("late", srv.URL, time.Second), ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v", err)
	}
	if err := r.UpdateTTL("app", Passing, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("UpdateTTL after Close = %v", err)
	}
	r.Remove("c1")
	n := 0
	for i := range 20 {
		n += len(rec.get(fmt.Sprint("c", i)))
	}
	hits := srv.hits.Load()
	later := newCodeServer(t, 200) // time passes: another runner's probes
	r2 := newRunner(t, testConfig(), newRecorder(t))
	if err := r2.Add(httpCheck("x", later.URL, 5*time.Millisecond), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, func() bool { return later.hits.Load() >= 5 }, "probes")
	m := 0
	for i := range 20 {
		m += len(rec.get(fmt.Sprint("c", i)))
	}
	// Each check's probe in flight when Close came may still reach the
	// server, but nothing more.
	if m != n || srv.hits.Load() > hits+20 {
		t.Errorf("after Close: %d reports, %d probes", m-n, srv.hits.Load()-hits)
	}
}
