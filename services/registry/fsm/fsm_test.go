package fsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/replica"
	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/registry/fsm/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/registry/store"
)

func node(name, addr string) *registryv1.Node {
	return &registryv1.Node{Node: name, Address: addr, Datacenter: "dc1"}
}

func svc(id, name string, tags ...string) *registryv1.Service {
	return &registryv1.Service{Id: id, Service: name, Tags: tags, Port: 80}
}

func chk(id, serviceID, status string) *registryv1.Check {
	return &registryv1.Check{CheckId: id, Name: id, ServiceId: serviceID, Status: status}
}

func reg(n *registryv1.Node, v *registryv1.Service, cs ...*registryv1.Check) *fsmv1.Command {
	return &fsmv1.Command{Op: &fsmv1.Command_Register{Register: &fsmv1.Register{Node: n, Service: v, Checks: cs}}}
}

func skipNodeReg(n *registryv1.Node, v *registryv1.Service) *fsmv1.Command {
	return &fsmv1.Command{Op: &fsmv1.Command_Register{Register: &fsmv1.Register{Node: n, Service: v, SkipNodeUpdate: true}}}
}

func dereg(nodeName, serviceID, checkID string) *fsmv1.Command {
	return &fsmv1.Command{Op: &fsmv1.Command_Deregister{Deregister: &fsmv1.Deregister{Node: nodeName, ServiceId: serviceID, CheckId: checkID}}}
}

func marshal(t *testing.T, cmd *fsmv1.Command) []byte {
	t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// futureCmd is a command with an operation this server does not know, as a
// newer server would write it: field 99 of the op oneof.
func futureCmd(ignoreUnknown bool) []byte {
	var b []byte
	if ignoreUnknown {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	return protowire.AppendBytes(b, []byte{0x0a, 0x02, 'n', '1'})
}

// harness is an FSM with the next Raft index to apply.
type harness struct {
	t    *testing.T
	hub  *blocking.Hub
	f    *FSM
	next uint64
}

func newHarness(t *testing.T) *harness {
	hub := blocking.NewHub()
	return &harness{t: t, hub: hub, f: New(hub, nil), next: 1}
}

// entries gives raw commands the next indexes.
func (h *harness) entries(cmds ...[]byte) []sm.Entry {
	es := make([]sm.Entry, len(cmds))
	for i, c := range cmds {
		es[i] = sm.Entry{Index: h.next, Cmd: c}
		h.next++
	}
	return es
}

// apply applies commands in one batch and returns the entries with their
// results.
func (h *harness) apply(cmds ...*fsmv1.Command) []sm.Entry {
	h.t.Helper()
	raw := make([][]byte, len(cmds))
	for i, c := range cmds {
		raw[i] = marshal(h.t, c)
	}
	out, err := h.f.Update(h.entries(raw...))
	if err != nil {
		h.t.Fatalf("Update: %v", err)
	}
	return out
}

func (h *harness) query(q func(s *store.Store) any) any {
	h.t.Helper()
	v, err := h.f.Lookup(Query(q))
	if err != nil {
		h.t.Fatalf("Lookup: %v", err)
	}
	return v
}

func (h *harness) applied() uint64 {
	return h.query(func(s *store.Store) any { return s.Applied() }).(uint64)
}

// instances names the instances of a service as "node/id".
func (h *harness) instances(name string) []string {
	h.t.Helper()
	return h.query(func(s *store.Store) any {
		var out []string
		insts, _ := s.ServiceInstances(name, nil, nil)
		for _, in := range insts {
			out = append(out, in.Node.Node+"/"+in.Service.Id)
		}
		return out
	}).([]string)
}

func (h *harness) since(index uint64) ([]*registryv1.CatalogEvent, bool) {
	h.t.Helper()
	type res struct {
		evs []*registryv1.CatalogEvent
		ok  bool
	}
	v, err := h.f.Lookup(EventsQuery(func(l *EventLog) any {
		evs, ok := l.Since(index)
		out := make([]*registryv1.CatalogEvent, len(evs))
		for i := range evs {
			out[i] = evs[i].Proto()
		}
		return res{out, ok}
	}))
	if err != nil {
		h.t.Fatalf("Lookup: %v", err)
	}
	return v.(res).evs, v.(res).ok
}

func TestUpdateResults(t *testing.T) {
	steps := []struct {
		name      string
		cmd       *fsmv1.Command
		rejected  string // a part of the reason; empty if accepted
		web       []string
		nodeAddr  string // n1's address after the entry
		nodeIndex uint64 // n1's ModifyIndex after the entry
	}{
		{"register", reg(node("n1", "10.0.0.1"), svc("web1", "web"), chk("c1", "web1", "")), "", []string{"n1/web1"}, "10.0.0.1", 1},
		{"register identical", reg(node("n1", "10.0.0.1"), svc("web1", "web"), chk("c1", "web1", "")), "", []string{"n1/web1"}, "10.0.0.1", 1},
		{"check of an unregistered service", reg(node("n1", "10.9.9.9"), svc("web2", "web"), chk("c2", "nope", "")),
			`Missing service registration for check "c2"`, []string{"n1/web1"}, "10.0.0.1", 1},
		{"SkipNodeUpdate for an unknown node", skipNodeReg(node("n2", "10.0.0.2"), svc("web3", "web")),
			`node "n2" is not registered`, []string{"n1/web1"}, "10.0.0.1", 1},
		{"no node name", reg(node("", "10.0.0.2"), svc("web3", "web")), "Must provide node", []string{"n1/web1"}, "10.0.0.1", 1},
		{"register a second instance", reg(node("n2", "10.0.0.2"), svc("web2", "web")), "", []string{"n1/web1", "n2/web2"}, "10.0.0.1", 1},
		{"change the node", reg(node("n1", "10.0.0.11"), nil), "", []string{"n1/web1", "n2/web2"}, "10.0.0.11", 7},
		{"deregister a service", dereg("n1", "web1", ""), "", []string{"n2/web2"}, "10.0.0.11", 7},
		{"deregister what is not there", dereg("n9", "", ""), "", []string{"n2/web2"}, "10.0.0.11", 7},
	}
	// One entry at a time, then all in one batch: a batch's results are
	// those of its entries applied in order.
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			h := newHarness(t)
			var results []sm.Entry
			if batched {
				cmds := make([]*fsmv1.Command, len(steps))
				for i, st := range steps {
					cmds[i] = st.cmd
				}
				results = h.apply(cmds...)
			}
			for i, st := range steps {
				var e sm.Entry
				if batched {
					e = results[i]
				} else {
					e = h.apply(st.cmd)[0]
				}
				index := uint64(i + 1)
				if e.Index != index {
					t.Fatalf("%s: entry index %d, want %d", st.name, e.Index, index)
				}
				if st.rejected == "" {
					if e.Result.Value != index || e.Result.Data != nil {
						t.Errorf("%s: result %+v, want Value %d", st.name, e.Result, index)
					}
				} else if e.Result.Value != Rejected || !strings.Contains(string(e.Result.Data), st.rejected) {
					t.Errorf("%s: result Value %d Data %q, want Rejected with %q", st.name, e.Result.Value, e.Result.Data, st.rejected)
				}
				if batched {
					continue
				}
				if got := h.instances("web"); !slices.Equal(got, st.web) {
					t.Errorf("%s: web instances %q, want %q", st.name, got, st.web)
				}
				n := h.query(func(s *store.Store) any { return s.Node("n1") }).(*registryv1.Node)
				if n.Address != st.nodeAddr || n.ModifyIndex != st.nodeIndex {
					t.Errorf("%s: n1 %v, want address %s at %d", st.name, n, st.nodeAddr, st.nodeIndex)
				}
				if h.applied() != index {
					t.Errorf("%s: applied %d, want %d", st.name, h.applied(), index)
				}
			}
			last := steps[len(steps)-1]
			if got := h.instances("web"); !slices.Equal(got, last.web) {
				t.Errorf("web instances %q, want %q", got, last.web)
			}
			if h.applied() != uint64(len(steps)) {
				t.Errorf("applied %d, want %d", h.applied(), len(steps))
			}
		})
	}
}

func TestUpdateUnknownCommand(t *testing.T) {
	tests := []struct {
		name    string
		cmd     []byte
		wantErr bool
	}{
		{"unknown op", futureCmd(false), true},
		{"unknown op, ignore_unknown", futureCmd(true), false},
		{"no op", nil, true},
		{"no op, ignore_unknown", marshal(t, &fsmv1.Command{IgnoreUnknown: true}), false},
		{"not a protobuf", []byte{0xff, 0xff, 0xff}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.apply(reg(node("n1", "10.0.0.1"), svc("web1", "web")))
			watch := h.hub.Watch("")
			_, err := h.f.Update(h.entries(tt.cmd))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Update succeeded, want an error")
				}
				if !strings.Contains(err.Error(), "entry 2") {
					t.Errorf("error %q does not name the entry", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			// Skipped, but applied: the state machine moves past it.
			if h.applied() != 2 {
				t.Errorf("applied %d, want 2", h.applied())
			}
			if got := h.instances("web"); !slices.Equal(got, []string{"n1/web1"}) {
				t.Errorf("web %q after a skipped entry", got)
			}
			if evs, ok := h.since(1); !ok || len(evs) != 0 {
				t.Errorf("Since(1) = %v, %v; want no events", evs, ok)
			}
			select {
			case <-watch:
				t.Errorf("a skipped entry woke a watcher")
			default:
			}
			// The entries after it are applied as usual.
			if e := h.apply(reg(node("n2", "10.0.0.2"), svc("web2", "web")))[0]; e.Result.Value != 3 {
				t.Errorf("next entry: result %+v, want 3", e.Result)
			}
		})
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestUpdateWakesWatchers(t *testing.T) {
	watched := []string{
		store.TopicService("web"), store.TopicService("webapp"), store.TopicService("db"),
		store.TopicNodes, store.TopicNode("n1"), store.TopicNode("n2"),
	}
	tests := []struct {
		name   string
		cmds   []*fsmv1.Command
		closed []string
	}{
		{"web instance changed", []*fsmv1.Command{reg(node("n1", "10.0.0.1"), svc("web1", "web", "v2"))},
			[]string{store.TopicService("web"), store.TopicNode("n1")}},
		{"webapp instance changed", []*fsmv1.Command{reg(node("n2", "10.0.0.2"), svc("webapp1", "webapp", "v2"))},
			[]string{store.TopicService("webapp"), store.TopicNode("n2")}},
		{"new db instance", []*fsmv1.Command{reg(node("n2", "10.0.0.2"), svc("db1", "db"))},
			[]string{store.TopicService("db"), store.TopicNode("n2")}},
		{"web check failing", []*fsmv1.Command{reg(node("n1", "10.0.0.1"), nil, chk("w1", "web1", store.StatusCritical))},
			[]string{store.TopicService("web"), store.TopicNode("n1")}},
		{"node-level check on n2", []*fsmv1.Command{reg(node("n2", "10.0.0.2"), nil, chk("serfHealth", "", store.StatusCritical))},
			[]string{store.TopicService("webapp"), store.TopicNode("n2")}},
		{"n1 readdressed", []*fsmv1.Command{reg(node("n1", "10.0.0.9"), nil)},
			[]string{store.TopicService("web"), store.TopicNodes, store.TopicNode("n1")}},
		{"last web instance deregistered", []*fsmv1.Command{dereg("n1", "web1", "")},
			[]string{store.TopicService("web"), store.TopicNode("n1")}},
		{"two changes in a batch", []*fsmv1.Command{dereg("n2", "webapp1", ""), reg(node("n1", "10.0.0.1"), svc("db1", "db"))},
			[]string{store.TopicService("webapp"), store.TopicService("db"), store.TopicNode("n1"), store.TopicNode("n2")}},
		{"identical registration", []*fsmv1.Command{reg(node("n1", "10.0.0.1"), svc("web1", "web"))}, nil},
		{"rejected registration", []*fsmv1.Command{reg(node("n1", "10.0.0.7"), svc("web9", "web"), chk("x", "nope", ""))}, nil},
		{"deregister nothing", []*fsmv1.Command{dereg("n1", "db1", "")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.apply(reg(node("n1", "10.0.0.1"), svc("web1", "web"), chk("w1", "web1", store.StatusPassing)))
			h.apply(reg(node("n2", "10.0.0.2"), svc("webapp1", "webapp")))
			chans := make(map[string]<-chan struct{}, len(watched))
			for _, tp := range watched {
				chans[tp] = h.hub.Watch(tp)
			}
			h.apply(tt.cmds...)
			for _, tp := range watched {
				if got, want := isClosed(chans[tp]), slices.Contains(tt.closed, tp); got != want {
					t.Errorf("watch on %q closed = %v, want %v", tp, got, want)
				}
			}
		})
	}
}

func TestEventLogSince(t *testing.T) {
	h := newHarness(t)
	h.f.log.size = 3
	type query struct {
		after uint64
		want  []uint64 // the indexes of the events returned
		ok    bool
	}
	steps := []struct {
		name    string
		cmd     *fsmv1.Command
		queries []query
	}{
		{"1: a node (1 event)", reg(node("n1", "10.0.0.1"), nil), []query{
			{0, []uint64{1}, true}, {1, nil, true}, {7, nil, true},
		}},
		{"2: a service (1 event)", reg(node("n1", "10.0.0.1"), svc("web1", "web")), []query{
			{0, []uint64{1, 2}, true}, {1, []uint64{2}, true},
		}},
		{"3: rejected (no event)", reg(node("n1", "10.0.0.1"), nil, chk("x", "nope", "")), []query{
			{0, []uint64{1, 2}, true}, {2, nil, true}, {3, nil, true},
		}},
		{"4: a check (1 event), the log is full", reg(node("n1", "10.0.0.1"), nil, chk("c1", "web1", "")), []query{
			{0, []uint64{1, 2, 4}, true}, {2, []uint64{4}, true},
		}},
		{"5: a node and a service (2 events): 1 and 2 dropped", reg(node("n2", "10.0.0.2"), svc("db1", "db")), []query{
			{0, nil, false}, {1, nil, false}, {2, []uint64{4, 5, 5}, true}, {4, []uint64{5, 5}, true}, {5, nil, true},
		}},
		{"6: 3 events: 4 and 5 dropped", reg(node("n3", "10.0.0.3"), svc("api1", "api"), chk("a1", "api1", "")), []query{
			{3, nil, false}, {4, nil, false}, {5, []uint64{6, 6, 6}, true}, {6, nil, true},
		}},
		{"7: 4 events: some of 7 dropped", reg(node("n4", "10.0.0.4"), svc("api2", "api"), chk("a2", "api2", ""), chk("serfHealth", "", "")), []query{
			{5, nil, false}, {6, nil, false}, {7, nil, true}, {8, nil, true},
		}},
		{"8: deregister api2 with its check (2 events)", dereg("n4", "api2", ""), []query{
			{6, nil, false}, {7, []uint64{8, 8}, true}, {8, nil, true},
		}},
		{"9: 4 events: the first of 9 dropped", reg(node("n5", "10.0.0.5"), svc("api3", "api"), chk("a3", "api3", ""), chk("serfHealth", "", "")), []query{
			{7, nil, false}, {8, nil, false}, {9, nil, true},
		}},
	}
	for _, st := range steps {
		h.apply(st.cmd)
		for _, q := range st.queries {
			evs, ok := h.since(q.after)
			var got []uint64
			for _, ev := range evs {
				got = append(got, ev.Index)
			}
			if ok != q.ok || !slices.Equal(got, q.want) {
				t.Errorf("after %s: Since(%d) = %v, %v; want %v, %v", st.name, q.after, got, ok, q.want, q.ok)
			}
		}
	}
	// The events kept are the last records changed, in order.
	h.f.log.size = 100
	h.apply(dereg("n3", "api1", "")) // 10
	evs, ok := h.since(9)
	var got []string
	for _, ev := range evs {
		got = append(got, fmt.Sprintf("%s %s", ev.Type, ev.Record))
	}
	want := []string{
		fmt.Sprintf("%s %s", registryv1.CatalogEvent_TYPE_DELETE, &registryv1.CatalogEvent_Check{Check: &registryv1.Check{Node: "n3", CheckId: "a1"}}),
		fmt.Sprintf("%s %s", registryv1.CatalogEvent_TYPE_DELETE, &registryv1.CatalogEvent_Service{Service: &registryv1.Service{Id: "api1", Service: "api"}}),
	}
	if !ok || !slices.Equal(got, want) {
		t.Errorf("Since(9) = %q, %v; want %q", got, ok, want)
	}
}

// TestEventLogConcurrentReaders: events returned by Since are read after
// the lock is released while Update appends and trims (run with -race).
func TestEventLogConcurrentReaders(t *testing.T) {
	h := newHarness(t)
	h.f.log.size = 8
	h.apply(reg(node("n0", "10.0.0.1"), nil))
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				v, err := h.f.Lookup(EventsQuery(func(l *EventLog) any { evs, _ := l.Since(0); return evs }))
				if err != nil {
					t.Error(err)
					return
				}
				for _, ev := range v.([]store.Event) {
					_ = ev.Index + uint64(len(ev.Node))
				}
				if _, err := h.f.Lookup(Query(func(s *store.Store) any { svcs, _ := s.Services(nil); return len(svcs) })); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 200 {
		h.apply(reg(node(fmt.Sprintf("n%d", i%5), "10.0.0.1"), svc(fmt.Sprintf("s%d", i), "web"), chk("c", "", "")))
	}
	close(done)
	wg.Wait()
}

func TestLookupUnknownQuery(t *testing.T) {
	h := newHarness(t)
	if _, err := h.f.Lookup(func(s *store.Store) any { return nil }); err == nil {
		t.Errorf("Lookup of an unnamed func type succeeded, want an error")
	}
	if _, err := h.f.Lookup("query"); err == nil {
		t.Errorf("Lookup of a string succeeded, want an error")
	}
}

func snapshot(t *testing.T, f *FSM) []byte {
	t.Helper()
	ctx, err := f.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.SaveSnapshot(ctx, &buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshotRecover(t *testing.T) {
	src := newHarness(t)
	src.apply(reg(node("n1", "10.0.0.1"), svc("web1", "web", "v1"), chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", store.StatusPassing)))
	src.apply(reg(node("n2", "10.0.0.2"), svc("web2", "web", "v2")), reg(node("n2", "10.0.0.2"), svc("db1", "db")))
	// 4: db's last instance goes; 5: rejected, but applied.
	src.apply(dereg("n2", "db1", ""))
	src.apply(reg(node("n1", "10.0.0.1"), nil, chk("x", "nope", "")))

	// The snapshot is of the state when PrepareSnapshot ran, not of later
	// writes.
	ctx, err := src.f.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	src.apply(reg(node("n3", "10.0.0.3"), svc("web3", "web"))) // 6
	var buf bytes.Buffer
	if err := src.f.SaveSnapshot(ctx, &buf, nil, nil); err != nil {
		t.Fatal(err)
	}

	dst := newHarness(t)
	dst.apply(reg(node("old", "10.0.0.99"), svc("old1", "old")))
	watched := []string{"", store.TopicNodes, store.TopicService("web"), store.TopicService("db"),
		store.TopicService("old"), store.TopicService("never-registered"), store.TopicNode("zz")}
	chans := make([]<-chan struct{}, len(watched))
	for i, tp := range watched {
		chans[i] = dst.hub.Watch(tp)
	}
	if err := dst.f.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), nil, nil); err != nil {
		t.Fatalf("RecoverFromSnapshot: %v", err)
	}
	for i, ch := range chans {
		if !isClosed(ch) {
			t.Errorf("watch on %q not woken by the restore", watched[i])
		}
	}

	type state struct {
		applied     uint64
		web, db     []string
		old         []string
		webIdx, dbI uint64
		nodes       uint64
	}
	read := func(h *harness) state {
		return h.query(func(s *store.Store) any {
			return state{applied: s.Applied(), webIdx: s.Index(store.TopicService("web")), dbI: s.Index(store.TopicService("db")),
				nodes: s.Index(store.TopicNodes)}
		}).(state)
	}
	got := read(dst)
	got.web, got.db, got.old = dst.instances("web"), dst.instances("db"), dst.instances("old")
	want := state{applied: 5, web: []string{"n1/web1", "n2/web2"}, webIdx: 2, dbI: 4, nodes: 2}
	if !equalState(got, want) {
		t.Errorf("restored state %+v, want %+v", got, want)
	}

	// The change log starts at the snapshot: earlier changes are not in it.
	tests := []struct {
		after uint64
		ok    bool
	}{{0, false}, {3, false}, {4, false}, {5, true}, {6, true}}
	for _, tt := range tests {
		evs, ok := dst.since(tt.after)
		if ok != tt.ok || len(evs) != 0 {
			t.Errorf("Since(%d) after restore = %v, %v; want none, %v", tt.after, evs, ok, tt.ok)
		}
	}

	// Entries after the snapshot apply on top of it.
	dst.next = 6
	if e := dst.apply(reg(node("n3", "10.0.0.3"), svc("web3", "web")))[0]; e.Result.Value != 6 {
		t.Fatalf("entry 6 after restore: %+v", e.Result)
	}
	if got := dst.instances("web"); !slices.Equal(got, src.instances("web")) {
		t.Errorf("web after entry 6: %q, want the source's %q", got, src.instances("web"))
	}
	if evs, ok := dst.since(5); !ok || len(evs) != 2 || evs[0].Index != 6 {
		t.Errorf("Since(5) = %v, %v; want the 2 events of entry 6", evs, ok)
	}

	// A snapshot of the restored FSM is the same catalog again.
	again := newHarness(t)
	if err := again.f.RecoverFromSnapshot(bytes.NewReader(snapshot(t, dst.f)), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := again.instances("web"), dst.instances("web"); !slices.Equal(got, want) || again.applied() != 6 {
		t.Errorf("second round trip: web %q applied %d, want %q 6", got, again.applied(), want)
	}
}

func equalState[T any](a, b T) bool { return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) }

func TestRecoverBadSnapshot(t *testing.T) {
	h := newHarness(t)
	h.apply(reg(node("n1", "10.0.0.1"), svc("web1", "web")))
	watch := h.hub.Watch("")
	good := snapshot(t, h.f)
	for _, in := range [][]byte{nil, []byte("garbage"), good[:len(good)-1]} {
		err := h.f.RecoverFromSnapshot(bytes.NewReader(in), nil, nil)
		if !errors.Is(err, store.ErrBadSnapshot) {
			t.Errorf("RecoverFromSnapshot(%q) = %v, want ErrBadSnapshot", in, err)
		}
	}
	if got := h.instances("web"); !slices.Equal(got, []string{"n1/web1"}) || h.applied() != 1 {
		t.Errorf("a failed restore changed the state: web %q applied %d", got, h.applied())
	}
	if evs, ok := h.since(0); !ok || len(evs) != 2 {
		t.Errorf("a failed restore changed the log: %v, %v", evs, ok)
	}
	if isClosed(watch) {
		t.Errorf("a failed restore woke watchers")
	}
	if err := h.f.SaveSnapshot("not a store", new(bytes.Buffer), nil, nil); err == nil {
		t.Errorf("SaveSnapshot of a foreign context succeeded")
	}
}

func batchCmd(cmds ...*fsmv1.Command) *fsmv1.Command {
	return &fsmv1.Command{Op: &fsmv1.Command_Batch{Batch: &fsmv1.Batch{Commands: cmds}}}
}

// TestBatchEntry applies registrations and deregistrations as one Batch
// entry: each is made or refused on its own, as when applied alone, and
// all that are made carry the entry's index.
func TestBatchEntry(t *testing.T) {
	h := newHarness(t)
	h.apply(reg(node("n1", "10.0.0.1"), svc("web1", "web"))) // 1
	woken := h.hub.Watch(store.TopicService("web"))
	cmds := []*fsmv1.Command{
		reg(node("n2", "10.0.0.2"), svc("web2", "web"), chk("c2", "web2", store.StatusPassing)),
		reg(node("n3", "10.0.0.3"), svc("web3", "web"), chk("c3", "nope", "")), // refused
		dereg("n1", "web1", ""),
		reg(node("", "10.0.0.4"), nil), // refused
		&fsmv1.Command{IgnoreUnknown: true},
	}
	out := h.apply(batchCmd(cmds...))
	e := out[0]
	if e.Index != 2 || e.Result.Value != 2 {
		t.Fatalf("entry %d result %d, want 2 and 2", e.Index, e.Result.Value)
	}
	var res fsmv1.BatchResult
	if err := proto.Unmarshal(e.Result.Data, &res); err != nil {
		t.Fatal(err)
	}
	want := []string{"", `Missing service registration for check "c3"`, "", "Must provide node", ""}
	if len(res.Refused) != len(want) {
		t.Fatalf("refused %q, want %d results", res.Refused, len(want))
	}
	for i, w := range want {
		if (w == "") != (res.Refused[i] == "") || !strings.Contains(res.Refused[i], w) {
			t.Errorf("command %d: refused %q, want %q", i, res.Refused[i], w)
		}
	}
	if got := h.instances("web"); !slices.Equal(got, []string{"n2/web2"}) {
		t.Errorf("web instances %q, want [n2/web2]", got)
	}
	n2 := h.query(func(s *store.Store) any { return s.Node("n2") }).(*registryv1.Node)
	if n2.GetCreateIndex() != 2 || n2.GetModifyIndex() != 2 {
		t.Errorf("n2 indexes %d/%d, want the entry's, 2", n2.GetCreateIndex(), n2.GetModifyIndex())
	}
	if h.query(func(s *store.Store) any { return s.Node("n3") }).(*registryv1.Node) != nil {
		t.Error("the refused registration of n3 wrote its node")
	}
	if !isClosed(woken) {
		t.Error("a watcher of the web service was not woken")
	}
	if evs, _ := h.since(1); len(evs) == 0 {
		t.Error("the batch left no catalog events")
	}
	if e := h.apply(batchCmd(reg(node("n5", "10.0.0.5"), nil), dereg("n5", "", "")))[0]; len(e.Result.Data) != 0 {
		t.Errorf("a batch with nothing refused has result data %x", e.Result.Data)
	}
	if _, err := h.f.Update(h.entries(marshal(t, batchCmd(batchCmd())))); err == nil {
		t.Error("a batch within a batch was applied; a replica must stop, not skip")
	}
}

// twoReplicas is a replica.Raft that commits a proposal on two FSMs, as
// Dragonboat does: the proposer's, which its server hands commands to,
// and a follower's, which decodes every entry. Each gets its own copy of
// the entry's bytes.
type twoReplicas struct {
	replica.Raft // only Propose is used
	t            *testing.T
	proposer     *harness
	follower     *harness
}

func (r *twoReplicas) Propose(_ context.Context, cmd []byte) (sm.Result, error) {
	r.t.Helper()
	var res [2]sm.Result
	for i, h := range []*harness{r.proposer, r.follower} {
		out, err := h.f.Update(h.entries(bytes.Clone(cmd)))
		if err != nil {
			r.t.Fatalf("Update: %v", err)
		}
		res[i] = out[0].Result
	}
	if res[0].Value != res[1].Value || !bytes.Equal(res[0].Data, res[1].Data) {
		r.t.Errorf("results differ: proposer %v, follower %v", res[0], res[1])
	}
	return res[0], nil
}

// records splits a snapshot into its header and its sorted records, which
// the store writes in map order.
func records(t *testing.T, snap []byte) (string, []string) {
	t.Helper()
	var out []string
	for len(snap) > 0 {
		rec, n := protowire.ConsumeBytes(snap)
		if n < 0 {
			t.Fatalf("bad snapshot record: %v", protowire.ParseError(n))
		}
		out = append(out, string(rec))
		snap = snap[n:]
	}
	slices.Sort(out[1:])
	return out[0], out[1:]
}

// TestHandoff: the replica that proposed an entry applies the command its
// server handed over, without decoding it, and ends in the same state,
// with the same results, as a replica that decoded every entry.
func TestHandoff(t *testing.T) {
	hub := blocking.NewHub()
	handoff := replica.NewHandoff()
	r := &twoReplicas{t: t, proposer: &harness{t: t, hub: hub, f: New(hub, handoff), next: 1}, follower: newHarness(t)}
	n1 := node("n1", "10.0.0.1")
	cmds := []*fsmv1.Command{
		reg(n1, svc("web1", "web", "v1"), chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", store.StatusPassing)),
		reg(node("n1", "10.0.0.1"), svc("web1", "web", "v1")), // changes nothing
		batchCmd(
			reg(node("n2", "10.0.0.2"), svc("web2", "web"), chk("w2", "web2", store.StatusWarning)),
			reg(node("n3", "10.0.0.3"), svc("web3", "web"), chk("c3", "nope", "")), // refused
			reg(node("n4", "10.0.0.4"), &registryv1.Service{Id: "db1", Service: "db", Tags: []string{}, Meta: map[string]string{}}),
			dereg("n1", "", "w1"),
		),
		dereg("n4", "db1", ""),                                 // db's last instance
		reg(node("n1", "10.0.0.1"), nil, chk("x", "nope", "")), // refused
		dereg("n2", "", ""),
	}
	for i, cmd := range cmds {
		if _, err := handoff.Propose(context.Background(), r, cmd, nil); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	if n := handoff.Pending(); n != 0 {
		t.Errorf("%d commands left in the handoff", n)
	}
	// The proposer's store keeps the records it was handed; the
	// follower's, records of its own.
	for _, tt := range []struct {
		h    *harness
		same bool
	}{{r.proposer, true}, {r.follower, false}} {
		if got := tt.h.query(func(s *store.Store) any { return s.Node("n1") }).(*registryv1.Node); (got == n1) != tt.same {
			t.Errorf("the stored n1 is the handed record: %v, want %v", got == n1, tt.same)
		}
	}
	ph, precs := records(t, snapshot(t, r.proposer.f))
	fh, frecs := records(t, snapshot(t, r.follower.f))
	if ph != fh || !slices.Equal(precs, frecs) {
		t.Errorf("snapshots differ:\nproposer %q %q\nfollower %q %q", ph, precs, fh, frecs)
	}
	pe, _ := r.proposer.since(0)
	fe, _ := r.follower.since(0)
	if !equalMsgs(pe, fe) {
		t.Errorf("change logs differ:\nproposer %v\nfollower %v", pe, fe)
	}
}

func equalMsgs[T proto.Message](a, b []T) bool {
	return slices.EqualFunc(a, b, func(x, y T) bool { return proto.Equal(x, y) })
}
