package replica

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tribune/tribune/lib/nodeid"
)

func TestPlan(t *testing.T) {
	srv := func(name string, expect int) Server {
		return Server{Name: name, NodeID: name, Datacenter: "dc1", Alive: true, Expect: expect, RaftAddress: name + ":1"}
	}
	a, b, c, d := srv("a", 3), srv("b", 3), srv("c", 3), srv("d", 3)
	if _, _, wait := Plan([]Server{a, b}, "dc1", 3, "a", "self:1"); !strings.Contains(wait, "waiting for 3") {
		t.Fatalf("two of three: %q", wait)
	}
	initial, join, wait := Plan([]Server{a, b, c}, "dc1", 3, "a", "self:1")
	if wait != "" || join || len(initial) != 3 || initial[nodeid.ReplicaID("a")] != "self:1" || initial[nodeid.ReplicaID("c")] != "c:1" {
		t.Fatalf("three of three: %v %v %q", initial, join, wait)
	}
	if _, join, wait := Plan([]Server{a, b, c, d}, "dc1", 3, "d", "d:1"); !join || wait != "" {
		t.Fatalf("a fourth server: join %v %q", join, wait)
	}
	if _, _, wait := Plan([]Server{a, b, srv("c", 5)}, "dc1", 3, "a", "a:1"); !strings.Contains(wait, "refusing") {
		t.Fatalf("another expect: %q", wait)
	}
	dead := c
	dead.Alive = false
	other := srv("e", 3)
	other.Datacenter = "dc2"
	if _, _, wait := Plan([]Server{a, b, dead, other}, "dc1", 3, "a", "a:1"); wait == "" {
		t.Fatal("a dead server and one of another datacenter counted")
	}
}

// TestFollowerPlan checks which servers the shard's leader adds and
// removes: a left server is removed, a failed one never, a reaped one only
// after the leader saw it failed or left, never itself, and a removed one
// is not added back.
func TestFollowerPlan(t *testing.T) {
	id := nodeid.ReplicaID
	srv := func(name, state string) Server {
		return Server{Name: name, NodeID: name, Datacenter: "dc1", Alive: state == "alive", Left: state == "left",
			Expect: 3, RaftAddress: name + ":1"}
	}
	config := func(names ...string) Configuration {
		c := Configuration{Voters: map[uint64]string{}, Removed: map[uint64]bool{id("gone"): true}}
		for _, n := range names {
			c.Voters[id(n)] = n + ":1"
		}
		return c
	}
	tests := []struct {
		name string
		// polls are the gossip pools of successive polls; the last one's
		// changes are checked.
		polls      [][]Server
		config     Configuration
		wantAdd    []string
		wantRemove []string
	}{
		{"all alive", [][]Server{{srv("self", "alive"), srv("b", "alive"), srv("c", "alive")}},
			config("self", "b", "c"), nil, nil},
		{"a new server is added", [][]Server{{srv("self", "alive"), srv("b", "alive"), srv("d", "alive")}},
			config("self", "b"), []string{"d"}, nil},
		{"a left server is removed", [][]Server{{srv("self", "alive"), srv("b", "left"), srv("c", "alive")}},
			config("self", "b", "c"), nil, []string{"b"}},
		{"a failed server is kept", [][]Server{{srv("self", "alive"), srv("b", "failed"), srv("c", "alive")}},
			config("self", "b", "c"), nil, nil},
		{"a reaped failed server is removed", [][]Server{
			{srv("self", "alive"), srv("b", "failed"), srv("c", "alive")},
			{srv("self", "alive"), srv("c", "alive")}},
			config("self", "b", "c"), nil, []string{"b"}},
		{"an unknown member never seen failed is kept", [][]Server{{srv("self", "alive"), srv("c", "alive")}},
			config("self", "b", "c"), nil, nil},
		{"a failed server back alive is no longer watched", [][]Server{
			{srv("self", "alive"), srv("b", "failed")},
			{srv("self", "alive"), srv("b", "alive")},
			{srv("self", "alive")}},
			config("self", "b"), nil, nil},
		{"the leader never removes itself", [][]Server{{srv("self", "left"), srv("b", "alive")}},
			config("self", "b"), nil, nil},
		{"a removed server is not added back", [][]Server{{srv("self", "alive"), srv("gone", "alive")}},
			config("self"), nil, nil},
		{"another datacenter is ignored", [][]Server{{srv("self", "alive"), func() Server {
			s := srv("b", "left")
			s.Datacenter = "dc2"
			return s
		}()}}, config("self", "b"), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &follower{r: pending(Config{ShardID: 1, ReplicaID: id("self")}), dc: "dc1", expect: 3,
				log: slog.New(slog.DiscardHandler), departing: map[uint64]bool{}, reported: map[uint64]bool{}}
			var ch changes
			for _, servers := range tt.polls {
				ch = f.plan(servers, tt.config)
			}
			var add, remove []string
			for _, s := range ch.Add {
				add = append(add, s.Name)
			}
			for _, n := range []string{"self", "b", "c", "d", "gone"} {
				if _, ok := ch.Remove[id(n)]; ok {
					remove = append(remove, n)
				}
			}
			if !slices.Equal(add, tt.wantAdd) || !slices.Equal(remove, tt.wantRemove) {
				t.Fatalf("add %v remove %v, want %v %v", add, remove, tt.wantAdd, tt.wantRemove)
			}
		})
	}
}

// TestPendingReplica checks what a replica waiting for its bootstrap
// answers: no leader, no members, ErrNoLeader for the rest.
func TestPendingReplica(t *testing.T) {
	r := pending(DefaultConfig())
	if _, ok := r.Leader(); ok {
		t.Fatal("a pending replica has a leader")
	}
	if m, err := r.Members(t.Context()); err != nil || len(m) != 0 {
		t.Fatalf("members: %v %v", m, err)
	}
	if c, err := r.Configuration(t.Context(), true); err != nil || len(c.Voters) != 0 {
		t.Fatalf("stale configuration: %+v %v", c, err)
	}
	if _, err := r.Configuration(t.Context(), false); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("configuration: %v", err)
	}
	if _, err := r.Propose(t.Context(), nil); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("propose: %v", err)
	}
	if _, err := r.StaleRead(nil); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("stale read: %v", err)
	}
	select {
	case <-r.Started():
		t.Fatal("started")
	default:
	}
	r.Close()
	r.Close()
}

func TestExistingCluster(t *testing.T) {
	initial := map[uint64]string{1: "a:1", 2: "b:1", 3: "c:1"}
	for _, tc := range []struct {
		name    string
		reports map[string][]uint64
		join    bool
	}{
		{"nobody bootstrapped yet", map[string][]uint64{"b": nil, "c": {}}, false},
		{"a peer bootstrapped with the same plan", map[string][]uint64{"b": {3, 1, 2}, "c": nil}, false},
		{"a peer has a dead server this one replaces", map[string][]uint64{"b": {1, 2, 4}, "c": nil}, true},
		{"a peer's cluster has grown", map[string][]uint64{"b": {1, 2, 3, 4}}, true},
		{"a peer's cluster is smaller", map[string][]uint64{"c": {1, 2}}, true},
		{"nobody asked", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			join, why := existingCluster(initial, tc.reports)
			if join != tc.join || (join && why == "") {
				t.Fatalf("existingCluster = %v %q, want join %v", join, why, tc.join)
			}
		})
	}
}

func TestWaitBootstrapAsksPeers(t *testing.T) {
	srv := func(name string) Server {
		return Server{Name: name, NodeID: name, Datacenter: "dc1", Alive: true, Expect: 3, RaftAddress: name + ":1", GRPCAddress: name + ":2"}
	}
	list := func(context.Context) ([]Server, error) { return []Server{srv("a"), srv("b"), srv("c")}, nil }
	log := slog.New(slog.DiscardHandler)

	// b belongs to a cluster with a server this one does not know: join.
	peers := func(_ context.Context, s Server) ([]uint64, error) {
		if s.Name == "b" {
			return []uint64{nodeid.ReplicaID("b"), nodeid.ReplicaID("c"), 99}, nil
		}
		return nil, nil
	}
	initial, join, err := waitBootstrap(t.Context(), list, peers, "dc1", 3, "a", "a:1", time.Millisecond, log)
	if err != nil || !join || initial != nil {
		t.Fatalf("with an existing cluster: %v %v %v", initial, join, err)
	}

	// A peer that does not answer holds the bootstrap back until it does.
	calls := 0
	peers = func(_ context.Context, s Server) ([]uint64, error) {
		if calls++; calls < 3 {
			return nil, errors.New("connection refused")
		}
		return nil, nil
	}
	initial, join, err = waitBootstrap(t.Context(), list, peers, "dc1", 3, "a", "a:1", time.Millisecond, log)
	if err != nil || join || len(initial) != 3 || calls < 4 {
		t.Fatalf("after a silent peer: %v %v %v (%d calls)", initial, join, err, calls)
	}
}
