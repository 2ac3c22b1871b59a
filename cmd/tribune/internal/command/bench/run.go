package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// result is what a load run measured.
type result struct {
	elapsed    time.Duration
	ops        uint64 // successful requests
	errors     uint64
	firstError string
	latency    *histogram // of the successful requests
}

// run loads the target cfg names and reports the result.
func (c *cmd) run(ctx context.Context, cfg *config) int {
	d, err := newDriver(cfg)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error! Cannot connect to %s at %s: %s\n", cfg.target, cfg.addr, err)
		return 1
	}
	defer d.close()

	keys := makeKeys(cfg.prefix, cfg.keys)
	if cfg.op != opPut {
		start := time.Now()
		if err := preload(ctx, cfg, d, keys); err != nil {
			fmt.Fprintf(c.io.Err, "Error! Cannot write the keys before reading them: %s\n", err)
			return 1
		}
		fmt.Fprintf(c.io.Err, "Wrote %d keys in %s before the run.\n", len(keys), time.Since(start).Round(time.Millisecond))
	}

	res := load(ctx, cfg, d, keys)
	if err := report(c.io.Out, cfg, res); err != nil {
		fmt.Fprintf(c.io.Err, "Error! %s\n", err)
		return 1
	}
	if res.errors > 0 {
		return 1
	}
	return 0
}

// makeKeys returns the key space: prefix followed by n zero-padded numbers.
func makeKeys(prefix string, n int) []string {
	width := len(fmt.Sprint(n - 1))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%0*d", prefix, width, i)
	}
	return keys
}

// makeValue returns size random letters.
func makeValue(r *rand.Rand, size int) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	v := make([]byte, size)
	for i := range v {
		v[i] = letters[r.IntN(len(letters))]
	}
	return v
}

// preload writes every key once, with cfg.clients clients, so that gets
// find them.
func preload(ctx context.Context, cfg *config, d driver, keys []string) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for i := range min(cfg.clients, len(keys)) {
		wg.Go(func() {
			value := makeValue(rand.New(rand.NewPCG(uint64(i), 0x9e3779b97f4a7c15)), cfg.valueSize)
			for {
				k := next.Add(1) - 1
				if k >= int64(len(keys)) || ctx.Err() != nil {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
				err := d.put(rctx, keys[k], value)
				cancel()
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("put %s: %w", keys[k], err) })
					next.Store(int64(len(keys))) // stop everyone
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

// load runs cfg.clients clients, each with one request in flight, until
// cfg.duration has passed or cfg.requests requests have started, or ctx
// ends. A request in flight at the deadline completes and counts.
func load(ctx context.Context, cfg *config, d driver, keys []string) result {
	var (
		remaining atomic.Int64 // requests left to start, with -requests
		errCount  atomic.Uint64
		firstErr  atomic.Pointer[string]
		wg        sync.WaitGroup
	)
	remaining.Store(cfg.requests)
	hists := make([]*histogram, cfg.clients)
	start := time.Now()
	deadline := start.Add(cfg.duration)
	for i := range cfg.clients {
		hists[i] = newHistogram()
		wg.Go(func() {
			h := hists[i]
			r := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			value := makeValue(r, cfg.valueSize)
			for ctx.Err() == nil {
				if cfg.requests > 0 {
					if remaining.Add(-1) < 0 {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				key := keys[r.IntN(len(keys))]
				put := cfg.op == opPut || (cfg.op == opMixed && r.IntN(2) == 0)
				rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
				t0 := time.Now()
				var err error
				if put {
					err = d.put(rctx, key, value)
				} else {
					err = d.get(rctx, key)
				}
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

// opsPerSecond is the throughput: successful requests per second.
func (r result) opsPerSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// jsonResult is the -json output.
type jsonResult struct {
	Target         string      `json:"target"`
	Addr           string      `json:"addr"`
	Op             string      `json:"op"`
	Clients        int         `json:"clients"`
	ValueSize      int         `json:"value_size"`
	Keys           int         `json:"keys"`
	Prefix         string      `json:"prefix"`
	ElapsedSeconds float64     `json:"elapsed_seconds"`
	Ops            uint64      `json:"ops"`
	Errors         uint64      `json:"errors"`
	FirstError     string      `json:"first_error,omitempty"`
	OpsPerSecond   float64     `json:"ops_per_second"`
	LatencyMs      jsonLatency `json:"latency_ms"`
}

type jsonLatency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func report(w io.Writer, cfg *config, r result) error {
	h := r.latency
	if cfg.json {
		enc := json.NewEncoder(w)
		return enc.Encode(jsonResult{
			Target: cfg.target, Addr: cfg.addr, Op: cfg.op, Clients: cfg.clients,
			ValueSize: cfg.valueSize, Keys: cfg.keys, Prefix: cfg.prefix,
			ElapsedSeconds: r.elapsed.Seconds(), Ops: r.ops, Errors: r.errors, FirstError: r.firstError,
			OpsPerSecond: r.opsPerSecond(),
			LatencyMs: jsonLatency{
				P50: ms(h.Percentile(50)), P90: ms(h.Percentile(90)), P99: ms(h.Percentile(99)),
				Max: ms(h.Max()), Mean: ms(h.Mean()),
			},
		})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\taddr\top\tclients\tvalue\tkeys\telapsed\tops\terrors\tops/s\tp50\tp90\tp99\tmax")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%dB\t%d\t%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\n",
		cfg.target, cfg.addr, cfg.op, cfg.clients, cfg.valueSize, cfg.keys,
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

// fmtLatency renders a latency in milliseconds with microsecond precision.
func fmtLatency(d time.Duration) string { return fmt.Sprintf("%.3fms", ms(d)) }
