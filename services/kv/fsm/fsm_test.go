package fsm_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/blocking"
	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/kv/fsm/v1"
	"github.com/tribune/tribune/services/kv/fsm"
	"github.com/tribune/tribune/services/kv/store"
)

func u64(i uint64) *uint64 { return &i }

func putCmd(key, value string, cas *uint64) *fsmv1.Command {
	return &fsmv1.Command{Op: &fsmv1.Command_Put{Put: &fsmv1.Put{Key: key, Value: []byte(value), Flags: 1, Cas: cas}}}
}

func delCmd(key string, cas *uint64) *fsmv1.Command {
	return &fsmv1.Command{Op: &fsmv1.Command_Delete{Delete: &fsmv1.Delete{Key: key, Cas: cas}}}
}

func treeCmd(prefix string) *fsmv1.Command {
	return &fsmv1.Command{Op: &fsmv1.Command_DeleteTree{DeleteTree: &fsmv1.DeleteTree{Prefix: prefix}}}
}

func marshal(t *testing.T, cmd *fsmv1.Command) []byte {
	t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// futureCmd is a command with an operation this server does not know, as
// a newer server would write it: field 99 of the op oneof.
func futureCmd(ignoreUnknown bool) []byte {
	var b []byte
	if ignoreUnknown {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	return protowire.AppendBytes(b, []byte{0x0a, 0x01, 'k'})
}

// harness is an FSM with the next Raft index to apply.
type harness struct {
	t    *testing.T
	hub  *blocking.Hub
	f    *fsm.FSM
	next uint64
}

func newHarness(t *testing.T) *harness {
	hub := blocking.NewHub()
	return &harness{t: t, hub: hub, f: fsm.New(hub, nil), next: 1}
}

// apply applies cmds as one batch and returns the results.
func (h *harness) apply(cmds ...*fsmv1.Command) []uint64 {
	h.t.Helper()
	raw := make([][]byte, len(cmds))
	for i, c := range cmds {
		raw[i] = marshal(h.t, c)
	}
	res, err := h.applyRaw(raw...)
	if err != nil {
		h.t.Fatalf("Update: %v", err)
	}
	return res
}

func (h *harness) applyRaw(cmds ...[]byte) ([]uint64, error) {
	entries := make([]sm.Entry, len(cmds))
	for i, c := range cmds {
		entries[i] = sm.Entry{Index: h.next, Cmd: c}
		h.next++
	}
	out, err := h.f.Update(entries)
	if err != nil {
		return nil, err
	}
	if len(out) != len(entries) {
		h.t.Fatalf("Update returned %d entries for %d", len(out), len(entries))
	}
	res := make([]uint64, len(out))
	for i, e := range out {
		if e.Index != entries[i].Index {
			h.t.Fatalf("Update result %d has index %d, want %d", i, e.Index, entries[i].Index)
		}
		res[i] = e.Result.Value
	}
	return res, nil
}

func (h *harness) lookup(q fsm.Query) any {
	h.t.Helper()
	v, err := h.f.Lookup(q)
	if err != nil {
		h.t.Fatalf("Lookup: %v", err)
	}
	return v
}

type state struct {
	Entries    []store.Entry
	Tombstones []store.Tombstone
	Applied    uint64
}

func (h *harness) state() state {
	h.t.Helper()
	return h.lookup(func(s *store.Store) any {
		var st state
		s.Entries(func(e *store.Entry) bool {
			st.Entries = append(st.Entries, *e)
			return true
		})
		s.Tombstones(func(t store.Tombstone) bool {
			st.Tombstones = append(st.Tombstones, t)
			return true
		})
		st.Applied = s.Applied()
		return st
	}).(state)
}

func (h *harness) get(key string) (*store.Entry, uint64) {
	h.t.Helper()
	type res struct {
		e     *store.Entry
		index uint64
	}
	r := h.lookup(func(s *store.Store) any {
		e, i := s.Get(key)
		return res{e, i}
	}).(res)
	return r.e, r.index
}

func TestUpdateResults(t *testing.T) {
	tests := []struct {
		name string
		// setup is applied first, at indexes 1..len(setup), as one batch.
		setup []*fsmv1.Command
		// cmds follow as a second batch.
		cmds []*fsmv1.Command
		// want holds each cmd's Result.Value: true for its own index, false
		// for fsm.Rejected.
		want []bool
	}{
		{
			name: "puts",
			cmds: []*fsmv1.Command{putCmd("a", "1", nil), putCmd("b", "1", nil), putCmd("a", "2", nil)},
			want: []bool{true, true, true},
		},
		{
			name: "create-only",
			cmds: []*fsmv1.Command{putCmd("a", "1", u64(0)), putCmd("a", "2", u64(0))},
			want: []bool{true, false},
		},
		{
			name:  "cas put",
			setup: []*fsmv1.Command{putCmd("a", "1", nil)}, // ModifyIndex 1
			cmds:  []*fsmv1.Command{putCmd("a", "x", u64(5)), putCmd("a", "2", u64(1)), putCmd("a", "3", u64(1))},
			want:  []bool{false, true, false},
		},
		{
			name:  "delete",
			setup: []*fsmv1.Command{putCmd("a", "1", nil), putCmd("b", "1", nil)},
			cmds:  []*fsmv1.Command{delCmd("a", nil), delCmd("missing", nil), delCmd("b", u64(0)), delCmd("b", u64(1)), delCmd("b", u64(2))},
			want:  []bool{true, true, false, false, true},
		},
		{
			name:  "delete tree",
			setup: []*fsmv1.Command{putCmd("a/1", "1", nil)},
			cmds:  []*fsmv1.Command{treeCmd("a/"), treeCmd("nothing/")},
			want:  []bool{true, true},
		},
		{
			name: "ignored unknown",
			cmds: []*fsmv1.Command{{IgnoreUnknown: true}, putCmd("a", "1", nil)},
			want: []bool{true, true}, // skipped, not rejected
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if len(tt.setup) > 0 {
				h.apply(tt.setup...)
			}
			first := h.next
			got := h.apply(tt.cmds...)
			for i, ok := range tt.want {
				want := uint64(fsm.Rejected)
				if ok {
					want = first + uint64(i)
				}
				if got[i] != want {
					t.Errorf("cmd %d: Result.Value = %d, want %d", i, got[i], want)
				}
			}
			if st := h.state(); st.Applied != h.next-1 {
				t.Errorf("Applied = %d, want %d (every entry, applied or rejected)", st.Applied, h.next-1)
			}
		})
	}
}

func TestUpdateAppliesToStore(t *testing.T) {
	h := newHarness(t)
	h.apply(putCmd("a", "1", nil), putCmd("b/1", "1", nil), putCmd("b/2", "1", nil)) // 1..3
	h.apply(putCmd("a", "2", u64(1)), delCmd("b/1", nil))                            // 4, 5
	h.apply(putCmd("a", "3", u64(1)), treeCmd("b/"))                                 // 6 rejected, 7

	want := state{
		Entries:    []store.Entry{{Key: "a", Value: []byte("2"), Flags: 1, CreateIndex: 1, ModifyIndex: 4}},
		Tombstones: []store.Tombstone{{Key: "b/1", Index: 5}, {Key: "b/2", Index: 7}},
		Applied:    7,
	}
	if got := h.state(); !reflect.DeepEqual(got, want) {
		t.Errorf("state:\n got %+v\nwant %+v", got, want)
	}
}

func TestUnknownCommand(t *testing.T) {
	tests := []struct {
		name    string
		cmd     []byte
		wantErr bool
	}{
		{"empty command", nil, true},
		{"no op, ignore_unknown", []byte{0x08, 0x01}, false},
		{"future op", futureCmd(false), true},
		{"future op, ignore_unknown", futureCmd(true), false},
		{"not protobuf", []byte{0xff, 0xff, 0xff}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.apply(putCmd("k", "v", nil)) // 1
			before := h.state()
			res, err := h.applyRaw(tt.cmd) // 2
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Update = %v, nil; want an error: a replica must stop, not skip", res)
				}
				return
			}
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			// Skipped, not rejected: the result is the entry's index.
			if res[0] != 2 {
				t.Errorf("Result.Value = %d, want 2", res[0])
			}
			after := h.state()
			if after.Applied != 2 {
				t.Errorf("Applied = %d, want 2", after.Applied)
			}
			after.Applied = before.Applied
			if !reflect.DeepEqual(after, before) {
				t.Errorf("skipped command changed the store:\n got %+v\nwant %+v", after, before)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	h := newHarness(t)
	h.apply(putCmd("a/1", "x", nil), putCmd("a/2", "y", nil), putCmd("b", "z", nil))
	got := h.lookup(func(s *store.Store) any {
		es, index := s.List("a/")
		var keys []string
		for _, e := range es {
			keys = append(keys, e.Key+"="+string(e.Value))
		}
		return [2]any{keys, index}
	}).([2]any)
	if !reflect.DeepEqual(got[0], []string{"a/1=x", "a/2=y"}) || got[1] != uint64(2) {
		t.Errorf("List via Lookup = %v", got)
	}
	if e, index := h.get("b"); e == nil || string(e.Value) != "z" || index != 3 {
		t.Errorf("Get via Lookup = %+v, %d", e, index)
	}

	// Only an fsm.Query is a query.
	for _, q := range []any{"a/1", 42, nil} {
		if v, err := h.f.Lookup(q); err == nil {
			t.Errorf("Lookup(%T) = %v, nil; want an error", q, v)
		}
	}
}

func TestHubNotifications(t *testing.T) {
	tests := []struct {
		name  string
		watch string
		cmd   *fsmv1.Command
		wake  bool
	}{
		{"put of the key", "k", putCmd("k", "2", nil), true},
		{"put under the prefix", "a/", putCmd("a/new", "1", nil), true},
		{"delete of the key", "k", delCmd("k", nil), true},
		{"cas delete of the key", "k", delCmd("k", u64(1)), true},
		{"delete under the prefix", "a/", delCmd("a/x", nil), true},
		{"delete tree above the key", "a/x", treeCmd("a/"), true},
		{"delete tree under the prefix", "a/", treeCmd("a/x/"), true},
		{"delete tree of everything", "a/x", treeCmd(""), true},
		{"put of another key", "foo", putCmd("bar", "1", nil), false},
		{"put beside the prefix", "a/", putCmd("b/x", "1", nil), false},
		{"put of a shorter key", "a/x", putCmd("a/", "1", nil), false},
		{"delete of another key", "a/x", delCmd("k", nil), false},
		{"delete tree elsewhere", "a/x", treeCmd("b/"), false},
		{"rejected cas put", "k", putCmd("k", "2", u64(99)), false},
		{"rejected create-only", "k", putCmd("k", "2", u64(0)), false},
		{"rejected cas delete", "k", delCmd("k", u64(0)), false},
		{"ignored unknown", "k", &fsmv1.Command{IgnoreUnknown: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			// k@1, a/x@2, a/x/y@3
			h.apply(putCmd("k", "1", nil), putCmd("a/x", "1", nil), putCmd("a/x/y", "1", nil))
			ch := h.hub.Watch(tt.watch)
			h.apply(tt.cmd)
			// Update notifies before it returns.
			select {
			case <-ch:
				if !tt.wake {
					t.Errorf("watch on %q woken", tt.watch)
				}
			default:
				if tt.wake {
					t.Errorf("watch on %q not woken", tt.watch)
				}
			}
		})
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	src := newHarness(t)
	src.apply(putCmd("a", "1", nil), putCmd("b/1", "1", nil), putCmd("b/2", "1", nil), putCmd("c", "1", nil))
	src.apply(putCmd("a", "2", nil), delCmd("c", nil), treeCmd("b/"), putCmd("b/2", "again", nil))
	src.apply(&fsmv1.Command{IgnoreUnknown: true}) // moves Applied only
	want := src.state()
	if len(want.Entries) == 0 || len(want.Tombstones) == 0 || want.Applied != 9 {
		t.Fatalf("setup: state %+v", want)
	}

	ctx, err := src.f.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after PrepareSnapshot are not in the snapshot.
	src.apply(putCmd("later", "x", nil), putCmd("a", "3", nil), delCmd("b/2", nil))
	var buf bytes.Buffer
	if err := src.f.SaveSnapshot(ctx, &buf, nil, nil); err != nil {
		t.Fatal(err)
	}

	dst := newHarness(t)
	dst.apply(putCmd("stale", "x", nil)) // replaced by the snapshot
	watches := map[string]<-chan struct{}{}
	for _, p := range []string{"", "a", "b/", "nothing/here", "stale"} {
		watches[p] = dst.hub.Watch(p)
	}
	if err := dst.f.RecoverFromSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := dst.state(); !reflect.DeepEqual(got, want) {
		t.Errorf("recovered state:\n got %+v\nwant %+v", got, want)
	}
	for p, ch := range watches {
		select {
		case <-ch:
		default:
			t.Errorf("watch on %q not woken by the restore", p)
		}
	}
	// Indexes of keys and tombstones survive: a blocking query resumes.
	for k, wantIndex := range map[string]uint64{"a": 5, "b/1": 7, "b/2": 8, "c": 6, "missing": 0} {
		if _, got := dst.get(k); got != wantIndex {
			t.Errorf("Get(%q) index = %d, want %d", k, got, wantIndex)
		}
	}
	// The recovered FSM goes on applying from the snapshot's index.
	dst.next = 10
	if res := dst.apply(putCmd("a", "4", u64(5))); res[0] != 10 {
		t.Errorf("cas put on the snapshot's ModifyIndex = %d, want 10", res[0])
	}
}

func TestRecoverFromBadSnapshot(t *testing.T) {
	h := newHarness(t)
	h.apply(putCmd("k", "v", nil))
	before := h.state()
	ch := h.hub.Watch("k")
	err := h.f.RecoverFromSnapshot(bytes.NewReader([]byte("garbage")), nil, nil)
	if !errors.Is(err, store.ErrBadSnapshot) {
		t.Fatalf("RecoverFromSnapshot = %v, want ErrBadSnapshot", err)
	}
	if got := h.state(); !reflect.DeepEqual(got, before) {
		t.Errorf("failed restore changed the store:\n got %+v\nwant %+v", got, before)
	}
	select {
	case <-ch:
		t.Error("failed restore woke watchers")
	default:
	}
}

func TestSaveSnapshotBadContext(t *testing.T) {
	h := newHarness(t)
	var buf bytes.Buffer
	if err := h.f.SaveSnapshot("not a store", &buf, nil, nil); err == nil {
		t.Error("SaveSnapshot of a bad context succeeded")
	}
}

func batchCmd(cmds ...*fsmv1.Command) *fsmv1.Command {
	return &fsmv1.Command{Op: &fsmv1.Command_Batch{Batch: &fsmv1.Batch{Commands: cmds}}}
}

// applyBatch applies cmds as one Batch entry and returns its index and
// whether each command was made.
func (h *harness) applyBatch(cmds ...*fsmv1.Command) (uint64, []bool, error) {
	h.t.Helper()
	index := h.next
	h.next++
	out, err := h.f.Update([]sm.Entry{{Index: index, Cmd: marshal(h.t, batchCmd(cmds...))}})
	if err != nil {
		return index, nil, err
	}
	if out[0].Result.Value != index {
		h.t.Fatalf("Result.Value = %d, want the entry's index %d", out[0].Result.Value, index)
	}
	var res fsmv1.BatchResult
	if err := proto.Unmarshal(out[0].Result.Data, &res); err != nil {
		h.t.Fatalf("Result.Data: %v", err)
	}
	return index, res.Ok, nil
}

func TestBatchEntry(t *testing.T) {
	h := newHarness(t)
	h.apply(putCmd("a", "1", nil), putCmd("gone/1", "1", nil)) // 1, 2
	woken := h.hub.Watch("a")
	index, ok, err := h.applyBatch(
		putCmd("a", "2", u64(1)), // made: a's ModifyIndex is 1
		putCmd("a", "3", u64(1)), // refused: the first made it 3
		putCmd("b", "1", u64(0)), // made: create-only
		delCmd("b", u64(0)),      // refused
		delCmd("missing", nil),   // made: deleting nothing succeeds
		treeCmd("gone/"),
		&fsmv1.Command{IgnoreUnknown: true}, // skipped, not refused
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, false, true, true, true}; !reflect.DeepEqual(ok, want) {
		t.Errorf("outcomes %v, want %v", ok, want)
	}
	want := state{
		Entries: []store.Entry{
			{Key: "a", Value: []byte("2"), Flags: 1, CreateIndex: 1, ModifyIndex: index},
			{Key: "b", Value: []byte("1"), Flags: 1, CreateIndex: index, ModifyIndex: index},
		},
		Tombstones: []store.Tombstone{{Key: "gone/1", Index: index}},
		Applied:    index,
	}
	if got := h.state(); !reflect.DeepEqual(got, want) {
		t.Errorf("state:\n got %+v\nwant %+v", got, want)
	}
	select {
	case <-woken:
	default:
		t.Error("a watcher of a key the batch wrote was not woken")
	}
}

func TestBatchEntryRefusedWhole(t *testing.T) {
	tests := []struct {
		name string
		cmd  *fsmv1.Command
	}{
		{"nested batch", batchCmd(putCmd("x", "1", nil))},
		{"unknown op", &fsmv1.Command{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.apply(putCmd("k", "v", nil))
			if _, _, err := h.applyBatch(putCmd("k", "w", nil), tt.cmd); err == nil {
				t.Fatal("Update accepted the batch; a replica must stop, not skip")
			}
		})
	}
}
