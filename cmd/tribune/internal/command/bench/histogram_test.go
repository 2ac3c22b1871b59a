package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	// Every value maps to a bucket whose range holds it, and consecutive
	// buckets tile the values without gaps or overlaps.
	var next uint64
	for i := 0; i < numBuckets; i++ {
		lo, hi := bucketRange(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if hi < lo {
			t.Fatalf("bucket %d: hi %d < lo %d", i, hi, lo)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if b := bucketOf(v); b != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, b, i)
			}
		}
		// Relative precision: a bucket is at most 1/128 of its lower bound.
		if lo >= 2*subBuckets && float64(hi-lo+1)/float64(lo) > 1.0/subBuckets {
			t.Fatalf("bucket %d [%d,%d] is wider than 1/%d", i, lo, hi, subBuckets)
		}
		next = hi + 1
		if hi == math.MaxUint64 || hi >= math.MaxInt64 {
			break
		}
	}
	if got := bucketOf(math.MaxInt64); got != numBuckets-1 {
		t.Errorf("bucketOf(MaxInt64) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

func TestPercentiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		want   map[float64]time.Duration // exact percentile values
	}{
		{name: "empty", values: nil, want: map[float64]time.Duration{50: 0, 99: 0, 100: 0}},
		{name: "one", values: []time.Duration{3 * time.Millisecond},
			want: map[float64]time.Duration{0: 3 * time.Millisecond, 50: 3 * time.Millisecond, 100: 3 * time.Millisecond}},
		{name: "small values are exact", values: durations(1, 100, 1),
			want: map[float64]time.Duration{0: 1, 1: 1, 50: 50, 90: 90, 99: 99, 100: 100}},
		{name: "1..10000us", values: durations(time.Microsecond, 10000*time.Microsecond, time.Microsecond),
			want: map[float64]time.Duration{50: 5000 * time.Microsecond, 90: 9000 * time.Microsecond,
				99: 9900 * time.Microsecond, 99.9: 9990 * time.Microsecond, 100: 10000 * time.Microsecond}},
		{name: "bimodal", values: append(repeat(100*time.Microsecond, 95), repeat(time.Second, 5)...),
			want: map[float64]time.Duration{50: 100 * time.Microsecond, 95: 100 * time.Microsecond,
				96: time.Second, 99: time.Second, 100: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistogram()
			for _, v := range tt.values {
				h.Record(v)
			}
			if h.Count() != uint64(len(tt.values)) {
				t.Errorf("Count() = %d, want %d", h.Count(), len(tt.values))
			}
			for p, want := range tt.want {
				assertClose(t, p, h.Percentile(p), want)
			}
			if len(tt.values) > 0 && h.Max() != slices.Max(tt.values) {
				t.Errorf("Max() = %v, want %v exactly", h.Max(), slices.Max(tt.values))
			}
		})
	}
}

func TestPercentilesRandom(t *testing.T) {
	// Log-normal latencies around 1ms: every percentile is within the
	// histogram's precision of the exact order statistic.
	r := rand.New(rand.NewPCG(1, 2))
	h := newHistogram()
	vals := make([]time.Duration, 100000)
	for i := range vals {
		vals[i] = time.Duration(math.Exp(r.NormFloat64()) * float64(time.Millisecond))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, p := range []float64{1, 10, 50, 90, 99, 99.9, 99.99, 100} {
		rank := int(math.Ceil(p / 100 * float64(len(vals))))
		assertClose(t, p, h.Percentile(p), vals[rank-1])
	}
	var sum float64
	for _, v := range vals {
		sum += float64(v)
	}
	if mean := time.Duration(sum / float64(len(vals))); h.Mean() != mean {
		t.Errorf("Mean() = %v, want %v", h.Mean(), mean)
	}
}

func TestMerge(t *testing.T) {
	a, b, all := newHistogram(), newHistogram(), newHistogram()
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * 37 * time.Microsecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	a.Merge(b)
	a.Merge(newHistogram())
	if a.Count() != all.Count() || a.Max() != all.Max() || a.Min() != all.Min() || a.Mean() != all.Mean() {
		t.Fatalf("merged count/min/max/mean = %d/%v/%v/%v, want %d/%v/%v/%v",
			a.Count(), a.Min(), a.Max(), a.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	for _, p := range []float64{50, 90, 99} {
		if a.Percentile(p) != all.Percentile(p) {
			t.Errorf("merged p%v = %v, want %v", p, a.Percentile(p), all.Percentile(p))
		}
	}
}

func TestNegativeDurationIsZero(t *testing.T) {
	h := newHistogram()
	h.Record(-time.Second)
	if h.Percentile(50) != 0 || h.Max() != 0 {
		t.Errorf("p50, max = %v, %v; want 0, 0", h.Percentile(50), h.Max())
	}
}

// assertClose checks that got is within the histogram's precision (1/128)
// of want, and never below it.
func assertClose(t *testing.T, p float64, got, want time.Duration) {
	t.Helper()
	if got < want || float64(got-want) > float64(want)/subBuckets {
		t.Errorf("p%v = %v, want %v (within 1/%d above)", p, got, want, subBuckets)
	}
}

func durations(from, to, step time.Duration) []time.Duration {
	var out []time.Duration
	for d := from; d <= to; d += step {
		out = append(out, d)
	}
	return out
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
