package kv

import (
	"testing"
	"time"
)

func TestTombstoneClock(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	c := &tombstoneClock{ttl: 10 * time.Second}
	for _, step := range []struct {
		at      float64
		applied uint64
		reaped  bool // the replica applies the reap it is told to make
		want    uint64
	}{
		{0, 5, false, 0},     // nothing is TTL old yet
		{5, 9, false, 0},     // still nothing
		{10, 12, true, 5},    // index 5 was applied 10 s ago: reap up to it
		{12, 14, false, 0},   // nothing new is TTL old
		{15, 20, true, 9},    // the 5 s sample is now old enough
		{16, 21, false, 0},   // 9 done already
		{30, 30, true, 21},   // the newest old-enough sample wins
		{31, 31, false, 0},   // and is remembered as done
		{100, 31, false, 31}, // a long quiet spell: every sample is old
	} {
		if got := c.tick(at(step.at), step.applied); got != step.want {
			t.Fatalf("at %vs (applied %d): reap up to %d, want %d", step.at, step.applied, got, step.want)
		}
		if step.reaped {
			c.done(step.want)
		}
		if len(c.samples) > 20 {
			t.Fatalf("the clock keeps %d samples", len(c.samples))
		}
	}
}
