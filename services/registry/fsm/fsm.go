// Package fsm is the registry shard's replicated state machine: it applies
// the Raft log's registrations to a store.Store, keeps a bounded log of
// recent catalog changes for watchers, writes and restores snapshots, and
// wakes blocking queries after each applied batch.
package fsm

import (
	"fmt"
	"io"
	"sync"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/replica"
	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/registry/fsm/v1"
	"github.com/tribune/tribune/services/registry/store"
)

// Query is a read run against the store under the state machine's read
// lock. It must not keep the store; the records it returns are immutable.
type Query func(s *store.Store) any

// EventsQuery is a read of the recent-changes log under the read lock.
type EventsQuery func(l *EventLog) any

// Rejected is the result value of a registration the state refused; the
// reason is in the result's Data.
const Rejected = 0

// DefaultEventLogSize is how many recent changes the FSM keeps for watchers.
const DefaultEventLogSize = 16384

// EventLog holds the most recent catalog changes, in a ring of fixed size.
type EventLog struct {
	ring  []store.Event
	start int // the oldest change's position in ring
	n     int // how many changes ring holds
	// floor: every change after this index is in the ring.
	floor uint64
	size  int
}

// Since returns a copy of the changes after index, and false when some of
// them are no longer kept (the watcher must start again from the full
// state).
func (l *EventLog) Since(index uint64) ([]store.Event, bool) {
	if index < l.floor {
		return nil, false
	}
	at := func(i int) *store.Event { return &l.ring[(l.start+i)%len(l.ring)] }
	i := l.n
	for i > 0 && at(i-1).Index > index {
		i--
	}
	out := make([]store.Event, 0, l.n-i)
	for ; i < l.n; i++ {
		out = append(out, *at(i))
	}
	return out, true
}

// add appends changes, overwriting the oldest when the ring is full.
func (l *EventLog) add(evs []store.Event) {
	if len(evs) > 0 && l.ring == nil {
		l.ring = make([]store.Event, l.size)
	}
	for _, e := range evs {
		if l.n < len(l.ring) {
			l.ring[(l.start+l.n)%len(l.ring)] = e
			l.n++
			continue
		}
		l.floor = l.ring[l.start].Index
		l.ring[l.start] = e
		l.start = (l.start + 1) % len(l.ring)
	}
}

// FSM implements Dragonboat's IConcurrentStateMachine over a store.Store.
// Update is called by one goroutine at a time; Lookup may run concurrently
// with it; SaveSnapshot runs on the copy PrepareSnapshot took. Apply is
// deterministic: it reads nothing but the entry and the store.
type FSM struct {
	hub     *blocking.Hub
	handoff *replica.Handoff

	mu    sync.RWMutex
	store *store.Store
	log   EventLog
}

var _ sm.IConcurrentStateMachine = (*FSM)(nil)

// New returns an FSM over an empty store that notifies hub of changes.
// It applies the commands its server handed over through handoff, which
// may be nil, without decoding them again.
func New(hub *blocking.Hub, handoff *replica.Handoff) *FSM {
	return &FSM{hub: hub, handoff: handoff, store: store.New(), log: EventLog{size: DefaultEventLogSize}}
}

// Update applies a batch of committed entries.
func (f *FSM) Update(entries []sm.Entry) ([]sm.Entry, error) {
	f.mu.Lock()
	for i := range entries {
		e := &entries[i]
		if err := f.applyEntry(e); err != nil {
			f.mu.Unlock()
			return nil, fmt.Errorf("fsm: entry %d: %w", e.Index, err)
		}
		f.store.SetApplied(e.Index)
		f.log.add(f.store.TakeEvents())
	}
	touched := f.store.TakeTouched()
	f.mu.Unlock()
	for _, t := range touched {
		f.hub.Notify(t)
	}
	return entries, nil
}

// applyEntry applies one entry and sets its result; f.mu is held.
func (f *FSM) applyEntry(e *sm.Entry) error {
	cmd, err := replica.Command[fsmv1.Command](f.handoff, e.Cmd)
	if err != nil {
		return err
	}
	b, ok := cmd.Op.(*fsmv1.Command_Batch)
	if !ok {
		refused, err := f.apply(e.Index, cmd)
		if err != nil {
			return err
		}
		if refused != nil {
			e.Result = sm.Result{Value: Rejected, Data: []byte(refused.Error())}
		} else {
			e.Result.Value = e.Index
		}
		return nil
	}
	// The result lists why each command was refused, and is left empty
	// when none was (the usual case).
	var res *fsmv1.BatchResult
	for j, c := range b.Batch.Commands {
		if _, nested := c.Op.(*fsmv1.Command_Batch); nested {
			return fmt.Errorf("command %d: a batch within a batch", j)
		}
		refused, err := f.apply(e.Index, c)
		if err != nil {
			return fmt.Errorf("command %d: %w", j, err)
		}
		if refused != nil {
			if res == nil {
				res = &fsmv1.BatchResult{Refused: make([]string, len(b.Batch.Commands))}
			}
			res.Refused[j] = refused.Error()
		}
	}
	e.Result = sm.Result{Value: e.Index}
	if res != nil {
		data, err := proto.Marshal(res)
		if err != nil {
			return err
		}
		e.Result.Data = data
	}
	return nil
}

// apply applies cmd at index; f.mu is held. It returns the store's reason
// for refusing the command, or an error for a command it does not know
// and must not skip.
func (f *FSM) apply(index uint64, cmd *fsmv1.Command) (refused, err error) {
	switch op := cmd.Op.(type) {
	case *fsmv1.Command_Register:
		r := op.Register
		return f.store.Register(index, r.Node, r.Service, r.Checks, r.SkipNodeUpdate), nil
	case *fsmv1.Command_Deregister:
		d := op.Deregister
		f.store.Deregister(index, d.Node, d.ServiceId, d.CheckId)
	default:
		if !cmd.IgnoreUnknown {
			return nil, fmt.Errorf("unknown command %T; upgrade this server", cmd.Op)
		}
		// skipped, not refused
	}
	return nil, nil
}

// Lookup runs a Query or an EventsQuery.
func (f *FSM) Lookup(q any) (any, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	switch query := q.(type) {
	case Query:
		return query(f.store), nil
	case EventsQuery:
		return query(&f.log), nil
	}
	return nil, fmt.Errorf("fsm: lookup of %T", q)
}

// PrepareSnapshot copies the store for SaveSnapshot.
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

// RecoverFromSnapshot replaces the store with a snapshot's, starts the
// change log afresh at the snapshot's index, and wakes every query.
func (f *FSM) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	s, err := store.ReadSnapshot(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.store = s
	f.log = EventLog{size: f.log.size, floor: s.Applied()}
	f.mu.Unlock()
	f.hub.NotifyAll()
	return nil
}

// Close releases nothing: the store is memory.
func (f *FSM) Close() error { return nil }
