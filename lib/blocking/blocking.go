// Package blocking implements Consul's blocking queries: a read that is held
// until the data it returned changes past a given index, or a wait ends.
//
// A query function registers interest in what it reads (a Hub watch), reads,
// and returns the index of what it read. Run calls it again each time the
// watch fires, until the index moves past the caller's, so spurious wake-ups
// cost a re-read and nothing else.
package blocking

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Config holds the waits of blocking queries, Consul's defaults unless a
// test or an operator says otherwise.
type Config struct {
	// DefaultWait is used when a query gives no wait (Consul: 5m).
	DefaultWait time.Duration
	// MaxWait caps the wait a query may ask for (Consul: 10m).
	MaxWait time.Duration
	// JitterFraction adds up to wait/JitterFraction of random extra wait so
	// that many clients woken together do not return together (Consul: 16).
	// 0 disables the jitter.
	JitterFraction int
}

// DefaultConfig returns Consul's blocking-query waits.
func DefaultConfig() Config {
	return Config{
		DefaultWait:    5 * time.Minute,
		MaxWait:        10 * time.Minute,
		JitterFraction: 16,
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.DefaultWait <= 0 {
		return fmt.Errorf("blocking: DefaultWait must be positive, got %v", c.DefaultWait)
	}
	if c.MaxWait < c.DefaultWait {
		return fmt.Errorf("blocking: MaxWait (%v) is below DefaultWait (%v)", c.MaxWait, c.DefaultWait)
	}
	if c.JitterFraction < 0 {
		return fmt.Errorf("blocking: JitterFraction must not be negative, got %d", c.JitterFraction)
	}
	return nil
}

// Wait returns how long a query asking for wait blocks at most: the default
// when wait is not positive, capped at MaxWait, plus the jitter.
func (c Config) Wait(wait time.Duration) time.Duration {
	if wait <= 0 {
		wait = c.DefaultWait
	}
	if wait > c.MaxWait {
		wait = c.MaxWait
	}
	if c.JitterFraction > 0 {
		if j := int64(wait) / int64(c.JitterFraction); j > 0 {
			wait += time.Duration(rand.Int64N(j))
		}
	}
	return wait
}

// QueryFunc reads once. With watch set, it returns a channel that is
// closed when what it read may have changed (registered before reading, so
// no change is missed); without, the query will not block and need not
// register one (a nil channel is fine). It also returns the index of the
// data it read.
type QueryFunc func(ctx context.Context, watch bool) (changed <-chan struct{}, index uint64, err error)

// Run runs query, and, when minIndex is not zero, runs it again each time
// its data may have changed until the index it returns is above minIndex or
// the wait (see Config.Wait) ends. It returns the index of the last run; the
// caller keeps the last run's data. A timeout is not an error: the last run
// stands, as in Consul. Cancelling ctx ends the wait with ctx's error.
func Run(ctx context.Context, cfg Config, minIndex uint64, wait time.Duration, query QueryFunc) (uint64, error) {
	changed, index, err := query(ctx, minIndex > 0)
	if err != nil || minIndex == 0 || index > minIndex {
		return index, err
	}
	timer := time.NewTimer(cfg.Wait(wait))
	defer timer.Stop()
	for {
		select {
		case <-changed:
		case <-timer.C:
			return index, nil
		case <-ctx.Done():
			return index, ctx.Err()
		}
		changed, index, err = query(ctx, true)
		if err != nil || index > minIndex {
			return index, err
		}
	}
}
