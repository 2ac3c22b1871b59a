// Package fsm is the KV shard's replicated state machine: it applies the
// Raft log's commands to a store.Store, answers reads, writes and restores
// snapshots, and wakes blocking queries after each applied batch.
package fsm

import (
	"fmt"
	"io"
	"sync"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/replica"
	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/kv/fsm/v1"
	"github.com/tribune/tribune/services/kv/store"
)

// Query is a read run against the store under the state machine's read
// lock. It must not keep the store, and must copy what it returns unless
// it is immutable (entries are).
type Query func(s *store.Store) any

// Result values of an applied command, in sm.Result.Value: the index of a
// write that was made, or Rejected when a check-and-set failed.
const Rejected = 0

// FSM implements Dragonboat's IConcurrentStateMachine over a store.Store.
// Update is called by one goroutine at a time; Lookup may run concurrently
// with it and with itself; SaveSnapshot runs concurrently with Update on the
// copy that PrepareSnapshot took. Apply is deterministic: it reads nothing
// but the entry and the store.
type FSM struct {
	hub     *blocking.Hub
	handoff *replica.Handoff

	mu    sync.RWMutex
	store *store.Store
}

var _ sm.IConcurrentStateMachine = (*FSM)(nil)

// New returns an FSM over an empty store that notifies hub of changes.
// It applies the commands its server handed over through handoff, which
// may be nil, without decoding them again.
func New(hub *blocking.Hub, handoff *replica.Handoff) *FSM {
	return &FSM{hub: hub, handoff: handoff, store: store.New()}
}

// Update applies a batch of committed entries.
func (f *FSM) Update(entries []sm.Entry) ([]sm.Entry, error) {
	var ch changes
	f.mu.Lock()
	for i := range entries {
		e := &entries[i]
		cmd, err := replica.Command[fsmv1.Command](f.handoff, e.Cmd)
		if err != nil {
			f.mu.Unlock()
			return nil, fmt.Errorf("fsm: entry %d: %w", e.Index, err)
		}
		if b, ok := cmd.Op.(*fsmv1.Command_Batch); ok {
			res := &fsmv1.BatchResult{Ok: make([]bool, len(b.Batch.Commands))}
			for j, c := range b.Batch.Commands {
				if _, nested := c.Op.(*fsmv1.Command_Batch); nested {
					f.mu.Unlock()
					return nil, fmt.Errorf("fsm: entry %d: a batch within a batch", e.Index)
				}
				ok, err := f.apply(e.Index, c, &ch)
				if err != nil {
					f.mu.Unlock()
					return nil, fmt.Errorf("fsm: entry %d, command %d: %w", e.Index, j, err)
				}
				res.Ok[j] = ok
			}
			data, err := proto.Marshal(res)
			if err != nil {
				f.mu.Unlock()
				return nil, fmt.Errorf("fsm: entry %d: %w", e.Index, err)
			}
			e.Result = sm.Result{Value: e.Index, Data: data}
		} else {
			ok, err := f.apply(e.Index, cmd, &ch)
			if err != nil {
				f.mu.Unlock()
				return nil, fmt.Errorf("fsm: entry %d: %w", e.Index, err)
			}
			if ok {
				e.Result.Value = e.Index
			}
		}
		f.store.SetApplied(e.Index)
	}
	f.mu.Unlock()
	for _, k := range ch.keys {
		f.hub.Notify(k)
	}
	for _, p := range ch.trees {
		f.hub.NotifyPrefix(p)
	}
	return entries, nil
}

// changes are what an Update changed, to wake the blocking queries on
// them once the store is unlocked.
type changes struct {
	keys  []string
	trees []string
}

// apply applies cmd at index; f.mu is held. It reports whether the write
// was made (false: a check-and-set failed), and fails only on a command it
// does not know and must not skip.
func (f *FSM) apply(index uint64, cmd *fsmv1.Command, ch *changes) (bool, error) {
	switch op := cmd.Op.(type) {
	case *fsmv1.Command_Put:
		p := op.Put
		if !f.store.Put(index, p.Key, p.Value, p.Flags, p.Cas) {
			return false, nil
		}
		ch.keys = append(ch.keys, p.Key)
	case *fsmv1.Command_Delete:
		d := op.Delete
		if !f.store.Delete(index, d.Key, d.Cas) {
			return false, nil
		}
		ch.keys = append(ch.keys, d.Key)
	case *fsmv1.Command_DeleteTree:
		f.store.DeleteTree(index, op.DeleteTree.Prefix)
		ch.trees = append(ch.trees, op.DeleteTree.Prefix)
	case *fsmv1.Command_ReapTombstones:
		// Wakes nobody: the only answers it changes are those of keys
		// and prefixes with nothing left, whose index rises to the
		// reaped one; a query blocked on one sees it when its wait ends.
		f.store.ReapTombstones(op.ReapTombstones.Index)
	default:
		if !cmd.IgnoreUnknown {
			return false, fmt.Errorf("unknown command %T; upgrade this server", cmd.Op)
		}
		// skipped, not rejected
	}
	return true, nil
}

// Lookup runs a Query.
func (f *FSM) Lookup(q any) (any, error) {
	query, ok := q.(Query)
	if !ok {
		return nil, fmt.Errorf("fsm: lookup of %T, want fsm.Query", q)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return query(f.store), nil
}

// PrepareSnapshot takes a copy-on-write copy of the store for SaveSnapshot.
func (f *FSM) PrepareSnapshot() (any, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.store.Clone(), nil
}

// SaveSnapshot writes the copy PrepareSnapshot took.
func (f *FSM) SaveSnapshot(ctx any, w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	s, ok := ctx.(*store.Store)
	if !ok {
		return fmt.Errorf("fsm: snapshot context %T", ctx)
	}
	return s.WriteSnapshot(w)
}

// RecoverFromSnapshot replaces the store with a snapshot's and wakes every
// blocking query, since anything may have changed.
func (f *FSM) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	s, err := store.ReadSnapshot(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.store = s
	f.mu.Unlock()
	f.hub.NotifyAll()
	return nil
}

// Close releases nothing: the store is memory.
func (f *FSM) Close() error { return nil }
