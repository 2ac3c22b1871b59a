package replica

import (
	"context"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// Raft is what a service's gRPC server needs of its shard replica; a
// *Replica is one, and tests may wrap it. All methods are safe for
// concurrent use.
type Raft interface {
	// Propose commits cmd and returns the state machine's result.
	Propose(ctx context.Context, cmd []byte) (sm.Result, error)
	// Read runs a query linearizably (ReadIndex).
	Read(ctx context.Context, query any) (any, error)
	// StaleRead runs a query on the local replica as it is.
	StaleRead(query any) (any, error)
	// Leader returns the leader's replica ID, if one is known.
	Leader() (uint64, bool)
	// Members returns the voting members' Raft addresses by replica ID.
	Members(ctx context.Context) (map[uint64]string, error)
}

var _ Raft = (*Replica)(nil)

// ReadFor runs one read of a blocking query: linearizably (ReadIndex) on
// its first run unless stale was asked for, from the local replica after.
// The first ReadIndex proves the local replica had caught up with the
// leader when the query started, and the local state only moves forward
// from there, so later reads of the same query stay linearizable.
func ReadFor(ctx context.Context, r Raft, stale, first bool, query any) (any, error) {
	if stale || !first {
		return r.StaleRead(query)
	}
	return r.Read(ctx, query)
}
