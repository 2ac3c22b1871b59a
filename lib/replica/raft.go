package replica

import (
	"context"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
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
	// LastContact is how long ago the replica last knew it could reach
	// the leader: 0 on the leader.
	LastContact() time.Duration
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

// ProposeMessage proposes cmd, a log entry, and decodes the state
// machine's result data into data unless data is nil. Its errors are gRPC
// statuses (see Status).
func ProposeMessage(ctx context.Context, r Raft, cmd, data proto.Message) (sm.Result, error) {
	var none *Handoff
	return none.Propose(ctx, r, cmd, data)
}

// proposeBytes proposes the encoded command b, as ProposeMessage does.
func proposeBytes(ctx context.Context, r Raft, b []byte, data proto.Message) (sm.Result, error) {
	res, err := r.Propose(ctx, b)
	if err != nil {
		return sm.Result{}, Status(err)
	}
	if data != nil {
		if err := proto.Unmarshal(res.Data, data); err != nil {
			return sm.Result{}, status.Errorf(codes.Internal, "replica: the result of entry %d: %v", res.Value, err)
		}
	}
	return res, nil
}
