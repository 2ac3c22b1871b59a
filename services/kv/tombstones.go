package kv

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/replica"
	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/kv/fsm/v1"
	"github.com/tribune/tribune/services/kv/fsm"
	"github.com/tribune/tribune/services/kv/store"
)

// tombstoneClock says which tombstones may be reaped, as Consul's
// TombstoneGC does: every tick, each replica notes the index it has
// applied; the leader reaps up to the index noted at least TTL ago, so a
// tombstone lives at least TTL (and at most TTL and a tick), long enough
// for blocking queries and watches to see the deletion.
type tombstoneClock struct {
	ttl     time.Duration
	samples []tombstoneSample
	reaped  uint64
}

type tombstoneSample struct {
	at    time.Time
	index uint64
}

// tick notes that index was applied at now and returns the index to reap
// up to, or 0 when there is nothing new to reap.
func (c *tombstoneClock) tick(now time.Time, index uint64) uint64 {
	c.samples = append(c.samples, tombstoneSample{now, index})
	upTo := uint64(0)
	i := 0
	for ; i < len(c.samples) && now.Sub(c.samples[i].at) >= c.ttl; i++ {
		upTo = c.samples[i].index
	}
	// Keep the last sample old enough, for the ticks to come.
	if i > 1 {
		c.samples = c.samples[i-1:]
	}
	if upTo <= c.reaped {
		return 0
	}
	return upTo
}

// done records that everything up to index was reaped.
func (c *tombstoneClock) done(index uint64) { c.reaped = max(c.reaped, index) }

// reapTombstones runs the tombstone GC until ctx ends: while this replica
// leads the shard, it proposes ReapTombstones every interval for the
// tombstones older than ttl, when there are any.
func reapTombstones(ctx context.Context, r *replica.Replica, ttl, interval time.Duration, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-r.Started():
	}
	c := &tombstoneClock{ttl: ttl}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := r.StaleRead(fsm.Query(func(s *store.Store) any { return [2]uint64{s.Applied(), s.Reaped()} }))
		if err != nil {
			continue
		}
		applied := v.([2]uint64)
		c.done(applied[1])
		upTo := c.tick(time.Now(), applied[0])
		if id, ok := r.Leader(); upTo == 0 || !ok || id != r.ReplicaID() {
			continue
		}
		// Nothing to reap: propose nothing, so an idle cluster's index
		// stays still.
		if v, err := r.StaleRead(fsm.Query(func(s *store.Store) any { return s.HasTombstonesUpTo(upTo) })); err != nil {
			continue
		} else if !v.(bool) {
			c.done(upTo)
			continue
		}
		b, err := proto.Marshal(&fsmv1.Command{Op: &fsmv1.Command_ReapTombstones{ReapTombstones: &fsmv1.ReapTombstones{Index: upTo}}})
		if err != nil {
			continue
		}
		if _, err := r.Propose(ctx, b); err != nil {
			log.Warn("reaping KV tombstones", "up_to", upTo, "err", err)
			continue
		}
		c.done(upTo)
	}
}
