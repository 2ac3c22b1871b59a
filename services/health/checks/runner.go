package checks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

// ReportFunc receives a check's new status and output. The Runner calls
// it only when either changed, never concurrently for the same check, and
// in the order the changes happened; calls for different checks may run
// at once. It is called with the check's lock held: it must return
// promptly and must not call the Runner's methods, or it may deadlock;
// hand such work to another goroutine.
// After Remove, a replacing Add or Close returns, no further call comes
// for the removed check.
type ReportFunc func(checkID, status, output string)

// CriticalFunc is told that a check with deregister_critical_service_after
// has stayed critical that long; the owner deregisters the check's
// service. It is called once per critical spell, on its own goroutine
// without the Runner's locks held, so it may call Remove and Add; it may
// run concurrently with ReportFunc (even for the same check) and must not
// call Close, which waits for it. A Remove or replacing Add racing with it
// may find it already under way, so the owner should check that the
// service is still there and still critical.
type CriticalFunc func(checkID string)

// Runner runs checks: each probed check on its interval, each TTL check
// against its deadline. Its methods are safe for concurrent use.
type Runner struct {
	cfg        Config
	report     ReportFunc
	onCritical CriticalFunc
	sem        chan struct{} // a token per running probe

	// opMu serialises Add, Remove and Close, so that a replaced check has
	// stopped before its successor starts and the two never report at
	// once.
	opMu sync.Mutex

	// mu guards checks and closed. Lock order: mu before a check's mu,
	// never the other way round (a check's mu is held while reporting,
	// and ReportFunc must not call the Runner).
	mu     sync.Mutex
	checks map[string]*check
	closed bool

	callbacks sync.WaitGroup // CriticalFunc calls in flight
}

// NewRunner validates cfg and returns a Runner with no checks. report is
// required; onCriticalTooLong may be nil when nothing deregisters.
func NewRunner(cfg Config, report ReportFunc, onCriticalTooLong CriticalFunc) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if report == nil {
		return nil, fmt.Errorf("checks: a report function is required")
	}
	return &Runner{
		cfg:        cfg,
		report:     report,
		onCritical: onCriticalTooLong,
		sem:        make(chan struct{}, cfg.MaxConcurrentProbes),
		checks:     make(map[string]*check),
	}, nil
}

// Validate reports why def cannot run on this Runner (see
// ValidateDefinition); nil when it can.
func (r *Runner) Validate(def *agentv1.CheckDefinition) error {
	return ValidateDefinition(def, r.cfg)
}

// Add starts running def, replacing (after stopping it) any running check
// with the same ID. The check starts in initialStatus, or when that is
// empty in the definition's status, or else critical; the starting status
// is not reported, the caller knows it. A probed check is first probed
// after a random part of its interval, so that checks added together do
// not fire together; a TTL check's deadline starts now.
func (r *Runner) Add(def *agentv1.CheckDefinition, initialStatus string) error {
	s, err := parse(def, r.cfg)
	if err != nil {
		return err
	}
	status := initialStatus
	if status == "" {
		status = s.status
	}
	if status == "" {
		status = Critical
	}
	if !validStatus(status) {
		return fmt.Errorf("check %q: initial status %q: %w", s.id, initialStatus, ErrInvalidStatus)
	}
	c := &check{r: r, id: s.id, serviceID: s.serviceID, kind: s.kind, status: status,
		successBefore: s.successBeforePassing, failuresBefore: s.failuresBeforeCritical,
		// Consul starts the counters at their thresholds, so that the
		// first result is reported whatever the thresholds.
		successes: s.successBeforePassing, failures: s.failuresBeforeCritical,
	}
	if s.kind == KindTTL {
		c.ttl = s.ttl
	} else {
		if c.probe, err = newProbe(def, s, r.cfg); err != nil {
			return err
		}
		c.interval = max(s.interval, r.cfg.MinInterval)
	}
	if s.criticalAfter > 0 && s.serviceID != "" {
		// Node-level checks have no service to deregister (nor in Consul).
		c.criticalAfter = max(s.criticalAfter, r.cfg.MinDeregisterCriticalServiceAfter)
	}

	r.opMu.Lock()
	defer r.opMu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	old := r.checks[c.id]
	if old != nil {
		// Stopped before its successor is visible: the two never report
		// at once.
		old.stop()
	}
	r.checks[c.id] = c
	r.mu.Unlock()
	if old != nil {
		old.wait()
	}
	c.start()
	return nil
}

// Remove stops the check with that ID, if there is one. When it returns,
// the check's probe has ended and no further report comes for it.
func (r *Runner) Remove(checkID string) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	r.mu.Lock()
	c := r.checks[checkID]
	delete(r.checks, checkID)
	if c != nil {
		c.stop()
	}
	r.mu.Unlock()
	if c != nil {
		c.wait()
	}
}

// UpdateTTL sets a TTL check's status and output (output beyond
// Config.OutputMaxSize is cut, as Consul cuts it) and restarts its
// deadline. The change is reported if it is one. Errors wrap
// ErrUnknownCheck, ErrNotTTL or ErrInvalidStatus.
func (r *Runner) UpdateTTL(checkID, status, output string) error {
	if !validStatus(status) {
		return fmt.Errorf("check %q: status %q: %w", checkID, status, ErrInvalidStatus)
	}
	r.mu.Lock()
	c, closed := r.checks[checkID], r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if c == nil {
		return fmt.Errorf("check %q: %w", checkID, ErrUnknownCheck)
	}
	if c.kind != KindTTL {
		return fmt.Errorf("check %q is %s check: %w", checkID, c.kind.label(), ErrNotTTL)
	}
	if total := len(output); total > r.cfg.OutputMaxSize {
		kept := head(output, r.cfg.OutputMaxSize)
		output = fmt.Sprintf("%s ... (captured %d of %d bytes)", kept, len(kept), total)
	}
	if !c.updateTTL(status, output) {
		// Replaced or removed meanwhile.
		return fmt.Errorf("check %q: %w", checkID, ErrUnknownCheck)
	}
	return nil
}

// Status returns a running check's current status and output as last
// reported (or its starting status).
func (r *Runner) Status(checkID string) (status, output string, ok bool) {
	r.mu.Lock()
	c := r.checks[checkID]
	r.mu.Unlock()
	if c == nil {
		return "", "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.output, true
}

// Close stops every check and waits for their probes and for
// CriticalFunc calls in flight to end. Later calls do nothing; Add and
// UpdateTTL then fail with ErrClosed.
func (r *Runner) Close() {
	r.opMu.Lock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.opMu.Unlock()
		return
	}
	r.closed = true
	all := r.checks
	r.checks = nil
	// Stop them all first so that their probes end together.
	for _, c := range all {
		c.stop()
	}
	r.mu.Unlock()
	for _, c := range all {
		c.wait()
	}
	// Released first: a CriticalFunc in flight may call Remove or Add.
	r.opMu.Unlock()
	r.callbacks.Wait()
}

// acquire takes a probe slot, or fails when ctx ends first.
func (r *Runner) acquire(ctx context.Context) bool {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	if ctx.Err() != nil { // both were ready and select took the slot
		r.release()
		return false
	}
	return true
}

func (r *Runner) release() { <-r.sem }

func validStatus(s string) bool { return s == Passing || s == Warning || s == Critical }

// stagger is the wait before a check's first probe: uniform in
// [0, interval), Consul's lib.RandomStagger.
func stagger(interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	return rand.N(interval)
}

// check is one running check.
type check struct {
	r              *Runner
	id, serviceID  string
	kind           Kind
	probe          Probe         // nil for a TTL check
	interval       time.Duration // probed checks
	ttl            time.Duration // TTL checks
	criticalAfter  time.Duration // 0: never tell
	successBefore  int
	failuresBefore int
	cancel         context.CancelFunc
	done           chan struct{} // closed when the probe loop has ended; nil without one
	mu             sync.Mutex    // guards what follows; held while reporting
	stopped        bool
	status, output string
	successes      int // consecutive passing or warning results
	failures       int // consecutive critical results
	lastTTLOutput  string
	ttlTimer       *time.Timer
	ttlGen         uint64 // tells a stale TTL timer from the current one
	criticalTimer  *time.Timer
	criticalGen    uint64
}

func (c *check) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == Critical {
		c.armCritical()
	}
	if c.kind == KindTTL {
		c.armTTL()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	go c.run(ctx)
}

// stop ends the check's reports and timers and cancels its probe.
func (c *check) stop() {
	c.mu.Lock()
	c.stopped = true
	if c.ttlTimer != nil {
		c.ttlTimer.Stop()
	}
	if c.criticalTimer != nil {
		c.criticalTimer.Stop()
	}
	c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
}

// wait waits for the probe loop to end.
func (c *check) wait() {
	if c.done != nil {
		<-c.done
	}
}

func (c *check) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTimer(stagger(c.interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.r.acquire(ctx) {
			return
		}
		status, output := c.probe.Check(ctx)
		c.r.release()
		c.result(status, output)
		// The interval runs from the end of a probe, as in Consul: a slow
		// target is not probed by overlapping probes.
		t.Reset(c.interval)
	}
}

// result applies a probe result through the thresholds, as Consul's
// StatusHandler does: passing and warning results count as successes,
// critical ones as failures; a status is taken only once its run of
// results reaches the threshold, and until then status and output stay.
func (c *check) result(status, output string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	if status == Passing || status == Warning {
		c.successes++
		c.failures = 0
		if c.successes >= c.successBefore {
			c.set(status, output)
		}
		return
	}
	c.failures++
	c.successes = 0
	if c.failures >= c.failuresBefore {
		c.set(Critical, output)
	}
}

// set records and reports a change; c.mu is held.
func (c *check) set(status, output string) {
	output = validUTF8(output) // whatever the Probe
	if c.stopped || (status == c.status && output == c.output) {
		return
	}
	wasCritical := c.status == Critical
	c.status, c.output = status, output
	switch {
	case status == Critical && !wasCritical:
		c.armCritical()
	case status != Critical && wasCritical:
		c.disarmCritical()
	}
	c.r.report(c.id, status, output)
}

func (c *check) updateTTL(status, output string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return false
	}
	c.lastTTLOutput = output
	c.set(status, output)
	c.armTTL()
	return true
}

// armTTL (re)starts the TTL deadline; c.mu is held.
func (c *check) armTTL() {
	if c.ttlTimer != nil {
		c.ttlTimer.Stop()
	}
	c.ttlGen++
	gen := c.ttlGen
	c.ttlTimer = time.AfterFunc(c.ttl, func() { c.expire(gen) })
}

func (c *check) expire(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || gen != c.ttlGen {
		return
	}
	// Consul's CheckTTL.getExpiredOutput; tools parse this prefix.
	out := "TTL expired"
	if c.lastTTLOutput != "" {
		out += " (last output before timeout follows): " + c.lastTTLOutput
	}
	c.set(Critical, out)
}

// armCritical starts timing a critical spell; c.mu is held.
func (c *check) armCritical() {
	if c.criticalAfter <= 0 || c.r.onCritical == nil {
		return
	}
	c.disarmCritical()
	gen := c.criticalGen
	c.criticalTimer = time.AfterFunc(c.criticalAfter, func() { c.criticalTooLong(gen) })
}

// disarmCritical ends a critical spell; c.mu is held.
func (c *check) disarmCritical() {
	if c.criticalTimer != nil {
		c.criticalTimer.Stop()
		c.criticalTimer = nil
	}
	c.criticalGen++
}

func (c *check) criticalTooLong(gen uint64) {
	r := c.r
	r.mu.Lock()
	if r.closed || r.checks[c.id] != c { // closed, removed or replaced
		r.mu.Unlock()
		return
	}
	c.mu.Lock()
	tell := !c.stopped && gen == c.criticalGen && c.status == Critical
	if tell {
		c.criticalTimer = nil
	}
	c.mu.Unlock()
	if tell {
		r.callbacks.Add(1) // before Close's Wait: closed is still false
	}
	r.mu.Unlock()
	if tell {
		defer r.callbacks.Done()
		r.onCritical(c.id)
	}
}
