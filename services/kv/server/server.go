// Package server is the KV service's gRPC server: KVService and
// StatusService over a replicated fsm.FSM. Writes are proposed through Raft;
// reads run as fsm.Query functions, linearizable (ReadIndex) unless stale
// was asked for, and block as Consul's blocking queries do.
package server

import (
	"context"
	"fmt"
	"sort"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tribune/tribune/lib/batch"
	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/replica"
	batchv1 "github.com/tribune/tribune/sdk/go/tribune/kv/batch/v1"
	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/kv/fsm/v1"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	"github.com/tribune/tribune/services/kv/fsm"
	"github.com/tribune/tribune/services/kv/store"
)

// Raft is what the server needs of its shard replica.
type Raft = replica.Raft

// Config holds the server's limits.
type Config struct {
	// MaxValueSize is the largest value a Put accepts (Consul's
	// kv_max_value_size, 512 KiB).
	MaxValueSize int
	Blocking     blocking.Config
}

// DefaultConfig returns Consul's limits.
func DefaultConfig() Config {
	return Config{MaxValueSize: 512 << 10, Blocking: blocking.DefaultConfig()}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.MaxValueSize <= 0 {
		return fmt.Errorf("server: MaxValueSize must be positive, got %d", c.MaxValueSize)
	}
	return c.Blocking.Validate()
}

// Server implements KVService, and BatchService for the gateway of the
// same server (replica.StatusServer serves StatusService).
//
// A request is the server's once passed to it: what it holds may become
// the store's records on this replica (see replica.Handoff), so a caller
// in the same process must not change a request, or anything it points
// to, after the call. gRPC gives each call a request of its own.
type Server struct {
	kvv1.UnimplementedKVServiceServer
	batchv1.UnimplementedBatchServiceServer

	cfg     Config
	raft    Raft
	hub     *blocking.Hub
	handoff *replica.Handoff
}

// New returns a Server over raft, whose state machine notifies hub. The
// server hands the commands it proposes to its replica's state machine
// through handoff, which may be nil.
func New(cfg Config, raft Raft, hub *blocking.Hub, handoff *replica.Handoff) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if raft == nil || hub == nil {
		return nil, fmt.Errorf("server: raft and hub are required")
	}
	return &Server{cfg: cfg, raft: raft, hub: hub, handoff: handoff}, nil
}

// AddTo adds the server's services to g.
func (s *Server) AddTo(g grpc.ServiceRegistrar) {
	kvv1.RegisterKVServiceServer(g, s)
	batchv1.RegisterBatchServiceServer(g, s)
}

// Errors of bad requests, in Consul's words.
var (
	errMissingKey = status.Error(codes.InvalidArgument, "Missing key name")
)

// read runs q with the consistency asked for (see replica.ReadFor).
func (s *Server) read(ctx context.Context, mode queryv1.Consistency, first bool, q fsm.Query) (any, error) {
	return replica.ReadFor(ctx, s.raft, mode == queryv1.Consistency_CONSISTENCY_STALE, first, q)
}

func (s *Server) meta(index uint64, mode queryv1.Consistency) *queryv1.QueryMeta {
	_, known := s.raft.Leader()
	return &queryv1.QueryMeta{
		// Consul never answers index 0: a client would busy-loop on it.
		Index:         max(index, 1),
		KnownLeader:   known,
		LastContactMs: uint64(s.raft.LastContact().Milliseconds()),
		Consistency:   mode,
	}
}

type getResult struct {
	entries []*store.Entry
	keys    []string
	index   uint64
}

// Get reads a key, a prefix or the keys under a prefix.
func (s *Server) Get(ctx context.Context, req *kvv1.GetRequest) (*kvv1.GetResponse, error) {
	if req.Key == "" && !req.Recurse && !req.KeysOnly {
		return nil, errMissingKey
	}
	opts := req.GetOptions()
	mode := opts.GetConsistency()
	var q fsm.Query
	switch {
	case req.KeysOnly:
		q = func(st *store.Store) any {
			keys, index := st.Keys(req.Key, req.Separator)
			return getResult{keys: keys, index: index}
		}
	case req.Recurse:
		q = func(st *store.Store) any {
			entries, index := st.List(req.Key)
			return getResult{entries: entries, index: index}
		}
	default:
		q = func(st *store.Store) any {
			e, index := st.Get(req.Key)
			if e == nil {
				return getResult{index: index}
			}
			return getResult{entries: []*store.Entry{e}, index: index}
		}
	}
	var res getResult
	first := true
	index, err := blocking.Run(ctx, s.cfg.Blocking, opts.GetMinIndex(), opts.GetWait().AsDuration(),
		func(ctx context.Context, watch bool) (<-chan struct{}, uint64, error) {
			var changed <-chan struct{}
			if watch {
				changed = s.hub.Watch(req.Key)
			}
			v, err := s.read(ctx, mode, first, q)
			first = false
			if err != nil {
				return nil, 0, err
			}
			res = v.(getResult)
			return changed, res.index, nil
		})
	if err != nil {
		return nil, replica.Status(err)
	}
	resp := &kvv1.GetResponse{Keys: res.keys, Meta: s.meta(index, mode)}
	resp.Pairs = make([]*kvv1.KVPair, len(res.entries))
	for i, e := range res.entries {
		resp.Pairs[i] = pair(e)
	}
	return resp, nil
}

func pair(e *store.Entry) *kvv1.KVPair {
	return &kvv1.KVPair{
		Key: e.Key, Value: e.Value, Flags: e.Flags,
		CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex,
		LockIndex: e.LockIndex, Session: e.Session,
	}
}

func (s *Server) propose(ctx context.Context, cmd *fsmv1.Command) (ok bool, index uint64, err error) {
	res, err := s.handoff.Propose(ctx, s.raft, cmd, nil)
	if err != nil {
		return false, 0, err
	}
	return res.Value != fsm.Rejected, res.Value, nil
}

// Put writes a key.
func (s *Server) Put(ctx context.Context, req *kvv1.PutRequest) (*kvv1.PutResponse, error) {
	cmd, err := s.putCommand(req)
	if err != nil {
		return nil, err
	}
	ok, index, err := s.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return &kvv1.PutResponse{Ok: ok, Index: index}, nil
}

// putCommand checks a put and returns its command.
func (s *Server) putCommand(req *kvv1.PutRequest) (*fsmv1.Command, error) {
	if req.Key == "" {
		return nil, errMissingKey
	}
	if len(req.Value) > s.cfg.MaxValueSize {
		return nil, status.Errorf(codes.ResourceExhausted,
			"Request body(%d bytes) too large, max size: %d bytes", len(req.Value), s.cfg.MaxValueSize)
	}
	return &fsmv1.Command{Op: &fsmv1.Command_Put{Put: &fsmv1.Put{
		Key: req.Key, Value: req.Value, Flags: req.Flags, Cas: req.Cas,
	}}}, nil
}

// Delete removes a key or a prefix.
func (s *Server) Delete(ctx context.Context, req *kvv1.DeleteRequest) (*kvv1.DeleteResponse, error) {
	cmd, err := deleteCommand(req)
	if err != nil {
		return nil, err
	}
	ok, index, err := s.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return &kvv1.DeleteResponse{Ok: ok, Index: index}, nil
}

// deleteCommand checks a delete and returns its command.
func deleteCommand(req *kvv1.DeleteRequest) (*fsmv1.Command, error) {
	switch {
	case req.Recurse && req.Cas != nil:
		return nil, status.Error(codes.InvalidArgument, "Conflicting flags: cas and recurse")
	case req.Recurse:
		return &fsmv1.Command{Op: &fsmv1.Command_DeleteTree{DeleteTree: &fsmv1.DeleteTree{Prefix: req.Key}}}, nil
	case req.Key == "":
		return nil, errMissingKey
	}
	return &fsmv1.Command{Op: &fsmv1.Command_Delete{Delete: &fsmv1.Delete{Key: req.Key, Cas: req.Cas}}}, nil
}

// Write applies a batch of independent puts and deletes as one Raft entry.
// An op that is refused on its own (bad input, a failed check-and-set)
// gets its own error or false; a failure of the proposal (no leader, a
// timeout) fails the whole call, and then none of the ops was made.
func (s *Server) Write(ctx context.Context, req *batchv1.WriteRequest) (*batchv1.WriteResponse, error) {
	results := make([]*batchv1.Result, len(req.Ops))
	cmds, at := batch.Split(req.Ops, s.command, func(i int, err error) {
		results[i] = &batchv1.Result{Result: &batchv1.Result_Error{Error: batch.WriteError(err)}}
	})
	made, index, err := s.proposeAll(ctx, cmds)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		ok, idx := made[j], index
		if !ok {
			idx = fsm.Rejected
		}
		if _, isPut := req.Ops[i].Op.(*batchv1.Op_Put); isPut {
			results[i] = &batchv1.Result{Result: &batchv1.Result_Put{Put: &kvv1.PutResponse{Ok: ok, Index: idx}}}
		} else {
			results[i] = &batchv1.Result{Result: &batchv1.Result_Delete{Delete: &kvv1.DeleteResponse{Ok: ok, Index: idx}}}
		}
	}
	return &batchv1.WriteResponse{Results: results}, nil
}

// command checks a batch's op and returns its command.
func (s *Server) command(op *batchv1.Op) (*fsmv1.Command, error) {
	switch o := op.Op.(type) {
	case *batchv1.Op_Put:
		return s.putCommand(o.Put)
	case *batchv1.Op_Delete:
		return deleteCommand(o.Delete)
	}
	return nil, status.Errorf(codes.InvalidArgument, "unknown batch op %T", op.Op)
}

// proposeAll proposes cmds as one entry (a Batch, unless there is only
// one) and returns whether each was made and the entry's index.
func (s *Server) proposeAll(ctx context.Context, cmds []*fsmv1.Command) ([]bool, uint64, error) {
	switch len(cmds) {
	case 0:
		return nil, 0, nil
	case 1:
		ok, index, err := s.propose(ctx, cmds[0])
		return []bool{ok}, index, err
	}
	var out fsmv1.BatchResult
	res, err := s.handoff.Propose(ctx, s.raft,
		&fsmv1.Command{Op: &fsmv1.Command_Batch{Batch: &fsmv1.Batch{Commands: cmds}}}, &out)
	if err != nil {
		return nil, 0, err
	}
	if len(out.Ok) != len(cmds) {
		return nil, 0, status.Errorf(codes.Internal, "kv: batch entry %d has %d results for %d commands", res.Value, len(out.Ok), len(cmds))
	}
	return out.Ok, res.Value, nil
}

type sinceResult struct {
	changes []store.Change
	index   uint64
}

// Watch streams the changes under a prefix: with start_index 0 first the
// current entries, then every change after the index it has sent.
func (s *Server) Watch(req *kvv1.WatchRequest, stream kvv1.KVService_WatchServer) error {
	ctx := stream.Context()
	from := req.StartIndex
	first := true
	for {
		changed := s.hub.Watch(req.Prefix)
		after := from
		v, err := s.read(ctx, queryv1.Consistency_CONSISTENCY_UNSPECIFIED, first,
			func(st *store.Store) any {
				changes, index := st.Since(req.Prefix, after)
				return sinceResult{changes: changes, index: index}
			})
		if err != nil {
			return replica.Status(err)
		}
		res := v.(sinceResult)
		if len(res.changes) > 0 || first {
			if err := stream.Send(events(res, after)); err != nil {
				return err
			}
		}
		first = false
		from = max(from, res.index)
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// events orders changes by index into a response. Changes after 0 are the
// current entries; tombstones are not news to a watcher starting fresh.
func events(res sinceResult, after uint64) *kvv1.WatchResponse {
	sort.SliceStable(res.changes, func(i, j int) bool { return res.changes[i].Index() < res.changes[j].Index() })
	out := &kvv1.WatchResponse{Index: max(res.index, 1)}
	for _, c := range res.changes {
		if c.Entry != nil {
			out.Events = append(out.Events, &kvv1.Event{Type: kvv1.Event_TYPE_PUT, Pair: pair(c.Entry)})
		} else if after > 0 {
			out.Events = append(out.Events, &kvv1.Event{Type: kvv1.Event_TYPE_DELETE,
				Pair: &kvv1.KVPair{Key: c.Tombstone.Key, ModifyIndex: c.Tombstone.Index}})
		}
	}
	return out
}
