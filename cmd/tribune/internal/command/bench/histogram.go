package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBucketBits sets the histogram's precision: each power of two is split
// into 2^subBucketBits linear sub-buckets, so a recorded value is known to
// within 1/128 (0.8%) of itself, from nanoseconds to centuries.
const subBucketBits = 7

const (
	subBuckets = 1 << subBucketBits
	// numBuckets covers every non-negative int64: values below 2*subBuckets
	// get a bucket each, then each power of two gets subBuckets buckets.
	numBuckets = (64 - subBucketBits) << subBucketBits
)

// histogram is a log-linear bucketed latency histogram in the manner of
// HdrHistogram: constant relative precision, fixed memory, O(1) recording
// and exact count, min, max and mean. It is not safe for concurrent use:
// each load client records into its own and they are merged at the end.
type histogram struct {
	counts []uint64
	total  uint64
	min    int64
	max    int64
	sum    float64
}

func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

// bucketOf returns the index of the bucket holding v (v >= 0).
func bucketOf(v uint64) int {
	// Values below 2*subBuckets are their own bucket (shift 0); above, the
	// top subBucketBits+1 bits pick the bucket within the value's power of
	// two, and the shift picks the power.
	shift := max(bits.Len64(v)-subBucketBits-1, 0)
	return shift<<subBucketBits + int(v>>uint(shift))
}

// bucketRange returns the smallest and the largest value bucket i holds.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subBuckets {
		return uint64(i), uint64(i)
	}
	shift := i>>subBucketBits - 1
	top := uint64(i - shift<<subBucketBits)
	return top << uint(shift), (top+1)<<uint(shift) - 1
}

// Record adds one observation; negative durations count as 0.
func (h *histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))]++
	h.total++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds every observation of o to h.
func (h *histogram) Merge(o *histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count returns the number of observations.
func (h *histogram) Count() uint64 { return h.total }

// Max returns the largest observation, exactly; 0 when empty.
func (h *histogram) Max() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Min returns the smallest observation, exactly; 0 when empty.
func (h *histogram) Min() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Mean returns the mean observation; 0 when empty.
func (h *histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Percentile returns the value at or below which p percent (0..100) of the
// observations fall: the largest value of the bucket holding the
// ceil(p/100*count)-th smallest observation, clamped to the exact min and
// max, as HdrHistogram's ValueAtQuantile does. 0 when empty.
func (h *histogram) Percentile(p float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	p = min(max(p, 0), 100)
	rank := uint64(math.Ceil(p / 100 * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			v := min(max(int64(min(hi, math.MaxInt64)), h.min), h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}
