package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// summary is the distribution of a few timings, one per repeated run.
type summary struct {
	N                  int
	Min, P50, P99, Max time.Duration
	Mean               time.Duration
}

// summarize returns the distribution of runs. Percentiles use the nearest
// rank (the smallest value with at least p percent of the runs at or below
// it): with fewer than 100 runs, p99 is the slowest run. The zero summary
// for no runs.
func summarize(runs []time.Duration) summary {
	if len(runs) == 0 {
		return summary{}
	}
	s := slices.Clone(runs)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return summary{N: len(s), Min: s[0], P50: nearestRank(s, 50), P99: nearestRank(s, 99), Max: s[len(s)-1],
		Mean: sum / time.Duration(len(s))}
}

// nearestRank returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// median returns the median of xs (the mean of the middle two for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianInterval returns the median of x and a 95% percentile-bootstrap
// interval of it, from resamples resamples drawn with a fixed seed, so
// that the same runs give the same interval.
func medianInterval(x []float64, resamples int) (med, lo, hi float64) {
	med = median(x)
	if len(x) < 2 {
		return med, med, med
	}
	r := rand.New(rand.NewPCG(1, 2))
	meds := make([]float64, resamples)
	sample := make([]float64, len(x))
	for i := range meds {
		for j := range sample {
			sample[j] = x[r.IntN(len(x))]
		}
		meds[i] = median(sample)
	}
	slices.Sort(meds)
	return med, meds[resamples*25/1000], meds[resamples*975/1000-1]
}
