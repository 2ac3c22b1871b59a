package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// `tribune bench catalog -compare-kv N`: catalog churn against KV puts on
// the same target. On a shared machine, throughput drifts by more between
// two runs a minute apart than the difference between the two workloads,
// so the comparison is made in adjacent pairs (KV, churn, churn, KV) and
// summarised by the median of the pairs' ratios.

// maxCompareRounds bounds -compare-kv.
const maxCompareRounds = 1000

// The KV puts churn is compared with: `tribune bench kv -op put`'s
// defaults.
const (
	compareValueSize = 256
	compareKeys      = 10000
	compareKeyPrefix = "bench/"
)

// compareResamples is the number of bootstrap resamples behind the
// interval of the median ratio.
const compareResamples = 2000

// compareResult is what a comparison measured.
type compareResult struct {
	kv, churn  []float64 // writes/s of each counted run
	ratios     []float64 // each churn run over the KV run next to it
	errors     uint64
	firstError string
}

// add counts res's errors and returns its writes per second.
func (r *compareResult) add(res result) float64 {
	r.errors += res.errors
	if r.firstError == "" {
		r.firstError = res.firstError
	}
	return res.opsPerSecond()
}

// compareWithKV runs cfg.compareKV rounds of KV puts and the churn steps
// against cfg's target and reports the ratio.
func (c *cmd) compareWithKV(ctx context.Context, cfg *catalogConfig, steps []func(context.Context) error) int {
	kvCfg := &config{target: cfg.target, addr: cfg.addr, clients: cfg.clients, duration: cfg.duration,
		timeout: cfg.timeout, valueSize: compareValueSize, keys: compareKeys, op: opPut, prefix: compareKeyPrefix}
	kd, err := newDriver(kvCfg)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error! Cannot connect to %s at %s: %s\n", cfg.target, cfg.addr, err)
		return 1
	}
	defer kd.close()
	keys := makeKeys(compareKeyPrefix, compareKeys)
	kv := func() result { return load(ctx, kvCfg, kd, keys) }
	churn := func() result { return loadSteps(ctx, cfg.duration, 0, cfg.timeout, steps) }

	var r compareResult
	r.add(kv()) // warm-up runs: their errors count, their rates do not
	r.add(churn())
	for range cfg.compareKV {
		if ctx.Err() != nil {
			break
		}
		k1, c1, c2, k2 := r.add(kv()), r.add(churn()), r.add(churn()), r.add(kv())
		r.kv = append(r.kv, k1, k2)
		r.churn = append(r.churn, c1, c2)
		if k1 > 0 && k2 > 0 {
			r.ratios = append(r.ratios, c1/k1, c2/k2)
		}
	}
	if err := reportCompare(c.io.Out, cfg, &r); err != nil {
		fmt.Fprintf(c.io.Err, "Error! %s\n", err)
		return 1
	}
	if r.errors > 0 || len(r.ratios) == 0 {
		return 1
	}
	return 0
}

// compareJSONResult is the -json output of `bench catalog -compare-kv`.
type compareJSONResult struct {
	Target          string    `json:"target"`
	Addr            string    `json:"addr"`
	Clients         int       `json:"clients"`
	DurationSeconds float64   `json:"duration_seconds"` // of each run
	Rounds          int       `json:"rounds"`
	Pairs           int       `json:"pairs"`
	RatioMedian     float64   `json:"ratio_median"` // churn / KV
	RatioLow        float64   `json:"ratio_low"`    // 95% interval of the median
	RatioHigh       float64   `json:"ratio_high"`
	KVMedian        float64   `json:"kv_median_ops_per_second"`
	ChurnMedian     float64   `json:"churn_median_ops_per_second"`
	Ratios          []float64 `json:"ratios"`
	Errors          uint64    `json:"errors"`
	FirstError      string    `json:"first_error,omitempty"`
}

func reportCompare(w io.Writer, cfg *catalogConfig, r *compareResult) error {
	med, lo, hi := medianInterval(r.ratios, compareResamples)
	if cfg.json {
		return json.NewEncoder(w).Encode(compareJSONResult{
			Target: cfg.target, Addr: cfg.addr, Clients: cfg.clients, DurationSeconds: cfg.duration.Seconds(),
			Rounds: len(r.kv) / 2, Pairs: len(r.ratios), RatioMedian: med, RatioLow: lo, RatioHigh: hi,
			KVMedian: median(r.kv), ChurnMedian: median(r.churn), Ratios: r.ratios,
			Errors: r.errors, FirstError: r.firstError,
		})
	}
	fmt.Fprintf(w, "Catalog churn against KV puts on %s %s, %d clients: %d rounds of KV, churn, churn, KV, %s each.\n",
		cfg.target, cfg.addr, cfg.clients, len(r.kv)/2, cfg.duration)
	fmt.Fprintf(w, "churn / KV, median of %d adjacent pairs: %.3fx (95%% interval %.3fx - %.3fx)\n", len(r.ratios), med, lo, hi)
	fmt.Fprintf(w, "median writes/s: KV %.0f, churn %.0f\n", median(r.kv), median(r.churn))
	if r.errors > 0 {
		fmt.Fprintf(w, "errors: %d (first: %s)\n", r.errors, r.firstError)
	}
	return nil
}
