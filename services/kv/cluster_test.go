package kv_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/lib/replica"
	batchv1 "github.com/tribune/tribune/sdk/go/tribune/kv/batch/v1"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	"github.com/tribune/tribune/services/kv"
	"github.com/tribune/tribune/services/kv/fsm"
	"github.com/tribune/tribune/services/kv/server"
	"github.com/tribune/tribune/services/kv/store"
)

// countingFSM counts snapshot restores, to show a test went through one.
type countingFSM struct {
	*fsm.FSM
	recovered *atomic.Int64
}

func (c countingFSM) RecoverFromSnapshot(r io.Reader, files []sm.SnapshotFile, done <-chan struct{}) error {
	c.recovered.Add(1)
	return c.FSM.RecoverFromSnapshot(r, files, done)
}

// node is one KV server: a replica in its own NodeHost and a Server on it.
type node struct {
	cfg       replica.Config
	hub       *blocking.Hub
	handoff   *replica.Handoff
	r         *replica.Replica
	srv       *server.Server
	recovered *atomic.Int64 // restores since the last start
}

type cluster struct {
	t     *testing.T
	nodes []*node
}

// testLogger is the logger of every replica: Dragonboat's logger is
// installed once per process, so it must not be tied to one test.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// freeAddrs returns n loopback addresses with ports free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// newCluster starts n replicas bootstrapped together. tune, if not nil,
// adjusts each replica's configuration.
func newCluster(t *testing.T, n int, tune func(*replica.Config)) *cluster {
	t.Helper()
	c := &cluster{t: t}
	addrs := freeAddrs(t, n)
	members := make(map[uint64]string, n)
	for i := range n {
		cfg := replica.DefaultConfig()
		cfg.ShardID = kv.ShardID
		cfg.ReplicaID = nodeid.ReplicaID(nodeid.New())
		cfg.Dir = filepath.Join(t.TempDir(), "kv")
		cfg.RaftAddress = addrs[i]
		cfg.RTT = 10 * time.Millisecond
		cfg.Timeout = 5 * time.Second
		cfg.Logger = testLogger()
		if tune != nil {
			tune(&cfg)
		}
		members[cfg.ReplicaID] = cfg.RaftAddress
		c.nodes = append(c.nodes, &node{cfg: cfg})
	}
	// Registered after t.TempDir, so it runs before the directories go.
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	// Start them together, so that few dial a peer not yet listening.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, nd := range c.nodes {
		nd.cfg.InitialMembers = members
		wg.Go(func() { errs[i] = c.startNode(i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %d: %v", i, err)
		}
	}
	c.warmUp()
	return c
}

// warmUp waits for a leader and then for a write through every node to
// succeed. Dragonboat's transport drops the messages to a peer it failed
// to dial (as when the peer had not started yet) for up to a second, and a
// request forwarded to the leader then is lost and waits out its deadline;
// after warmUp every node reaches the leader.
func (c *cluster) warmUp() {
	c.t.Helper()
	c.waitLeader()
	for _, i := range c.live() {
		eventually(c.t, 20*time.Second, fmt.Sprintf("write through node %d", i), func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := c.nodes[i].srv.Put(ctx, &kvv1.PutRequest{Key: fmt.Sprintf("warmup/%d", i)})
			return err
		})
	}
}

// start starts node i on its directory, with a fresh state machine.
func (c *cluster) start(i int) {
	c.t.Helper()
	if err := c.startNode(i); err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
}

func (c *cluster) startNode(i int) error {
	nd := c.nodes[i]
	hub := blocking.NewHub()
	handoff := replica.NewHandoff()
	recovered := new(atomic.Int64)
	r, err := replica.Start(nd.cfg, func(uint64, uint64) sm.IConcurrentStateMachine {
		return countingFSM{FSM: fsm.New(hub, handoff), recovered: recovered}
	})
	if err != nil {
		return err
	}
	srv, err := server.New(server.DefaultConfig(), r, hub, handoff)
	if err != nil {
		r.Close()
		return err
	}
	nd.hub, nd.handoff, nd.r, nd.srv, nd.recovered = hub, handoff, r, srv, recovered
	return nil
}

// stop closes node i. Nothing may be using it.
func (c *cluster) stop(i int) {
	if nd := c.nodes[i]; nd.r != nil {
		nd.r.Close()
		nd.r, nd.srv = nil, nil
	}
}

func (c *cluster) live() []int {
	var out []int
	for i, nd := range c.nodes {
		if nd.r != nil {
			out = append(out, i)
		}
	}
	return out
}

// eventually polls cond until it returns nil, failing the test with its
// last error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		<-tick.C
	}
}

// waitLeader waits until every live node agrees on a live leader and
// returns its position.
func (c *cluster) waitLeader() int {
	c.t.Helper()
	leader := -1
	eventually(c.t, 10*time.Second, "leader election", func() error {
		live := c.live()
		var id uint64
		for _, i := range live {
			l, ok := c.nodes[i].r.Leader()
			switch {
			case !ok:
				return fmt.Errorf("node %d knows no leader", i)
			case id != 0 && l != id:
				return fmt.Errorf("nodes disagree on the leader: %d, %d", id, l)
			}
			id = l
		}
		for _, i := range live {
			if c.nodes[i].cfg.ReplicaID == id {
				leader = i
				return nil
			}
		}
		return fmt.Errorf("leader %d is not a live node", id)
	})
	return leader
}

func (c *cluster) followers(leader int) []int {
	var out []int
	for _, i := range c.live() {
		if i != leader {
			out = append(out, i)
		}
	}
	return out
}

// ack is an acknowledged write.
type ack struct {
	value   string
	index   uint64
	retried bool // an earlier attempt failed, and may yet have committed
}

func unavailable(err error) bool {
	return status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded
}

// writeKeys puts every key, spreading them over the servers of nodes,
// concurrently. With retry, a write refused as unavailable is tried again
// until it succeeds or 15 s pass; without, any error fails the test.
func (c *cluster) writeKeys(keys []string, nodes []int, retry bool) map[string]ack {
	c.t.Helper()
	var mu sync.Mutex
	acks := make(map[string]ack, len(keys))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, key := range keys {
		srv := c.nodes[nodes[i%len(nodes)]].srv
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			value := "value of " + key
			deadline := time.Now().Add(15 * time.Second)
			for attempt := 0; ; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				resp, err := srv.Put(ctx, &kvv1.PutRequest{Key: key, Value: []byte(value)})
				cancel()
				if err == nil {
					if !resp.Ok || resp.Index == 0 {
						c.t.Errorf("Put(%q) = %v", key, resp)
						return
					}
					mu.Lock()
					acks[key] = ack{value: value, index: resp.Index, retried: attempt > 0}
					mu.Unlock()
					return
				}
				if !retry || !unavailable(err) || time.Now().After(deadline) {
					c.t.Errorf("Put(%q): %v", key, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if c.t.Failed() {
		c.t.FailNow()
	}
	// Each write is its own Raft entry.
	seen := make(map[uint64]string, len(acks))
	for k, a := range acks {
		if other, dup := seen[a.index]; dup {
			c.t.Fatalf("Put(%q) and Put(%q) acknowledged at the same index %d", k, other, a.index)
		}
		seen[a.index] = k
	}
	return acks
}

// checkPair reports how p differs from the acknowledged write of key.
func checkPair(key string, a ack, pairs []*kvv1.KVPair) error {
	if len(pairs) != 1 {
		return fmt.Errorf("Get(%q): %d pairs, want 1", key, len(pairs))
	}
	p := pairs[0]
	ok := p.ModifyIndex == a.index || (a.retried && p.ModifyIndex > a.index)
	if p.Key != key || string(p.Value) != a.value || !ok {
		return fmt.Errorf("Get(%q) = %q=%q at %d, want %q at %d", key, p.Key, p.Value, p.ModifyIndex, a.value, a.index)
	}
	return nil
}

// readAll reads every acknowledged key from node i: linearizable reads,
// concurrently, retrying while the replica is unavailable (after a leader
// change). Every read must then find the write.
func (c *cluster) readAll(i int, acks map[string]ack) {
	c.t.Helper()
	srv := c.nodes[i].srv
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for key, a := range acks {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			deadline := time.Now().Add(15 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				resp, err := srv.Get(ctx, &kvv1.GetRequest{Key: key})
				cancel()
				switch {
				case err == nil:
					if err := checkPair(key, a, resp.Pairs); err != nil {
						c.t.Errorf("node %d: %v", i, err)
					}
					return
				case !unavailable(err) || time.Now().After(deadline):
					c.t.Errorf("node %d: Get(%q): %v", i, key, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if c.t.Failed() {
		c.t.FailNow()
	}
}

// staleReadAll waits until node i's local state has every acknowledged
// write under prefix, then checks each with a stale Get.
func (c *cluster) staleReadAll(i int, prefix string, acks map[string]ack) {
	c.t.Helper()
	srv := c.nodes[i].srv
	stale := &queryv1.QueryOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE}
	eventually(c.t, 10*time.Second, fmt.Sprintf("node %d catching up", i), func() error {
		resp, err := srv.Get(context.Background(), &kvv1.GetRequest{Key: prefix, Recurse: true, Options: stale})
		if err != nil {
			return err
		}
		seen := 0
		for _, p := range resp.Pairs {
			if a, ok := acks[p.Key]; ok && checkPair(p.Key, a, []*kvv1.KVPair{p}) == nil {
				seen++
			}
		}
		if seen != len(acks) {
			return fmt.Errorf("%d of %d writes applied", seen, len(acks))
		}
		return nil
	})
	for key, a := range acks {
		resp, err := srv.Get(context.Background(), &kvv1.GetRequest{Key: key, Options: stale})
		if err != nil {
			c.t.Fatalf("node %d: stale Get(%q): %v", i, key, err)
		}
		if resp.Meta.Consistency != queryv1.Consistency_CONSISTENCY_STALE {
			c.t.Errorf("node %d: stale Get answered with consistency %v", i, resp.Meta.Consistency)
		}
		if err := checkPair(key, a, resp.Pairs); err != nil {
			c.t.Errorf("node %d: stale %v", i, err)
		}
	}
}

func keyNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func TestClusterReplicationAndFailover(t *testing.T) {
	start := time.Now()
	phase := func(what string) { t.Logf("%v: %s", time.Since(start).Round(time.Millisecond), what) }
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	phase("leader elected")

	// Writes through every server, followers forwarding to the leader.
	acks := c.writeKeys(keyNames("k/", 200), []int{0, 1, 2}, false)
	phase("written")
	for i := range c.nodes {
		c.readAll(i, acks)
		c.staleReadAll(i, "k/", acks)
	}
	phase("read back")

	c.stop(leader)
	phase("leader closed")
	newLeader := c.waitLeader()
	phase("new leader")
	if newLeader == leader {
		t.Fatalf("closed node %d is still the leader", leader)
	}
	survivors := c.live()
	for _, i := range survivors {
		c.readAll(i, acks)
	}
	phase("read from survivors")

	more := c.writeKeys(keyNames("more/", 50), survivors, true)
	for _, i := range survivors {
		c.readAll(i, more)
		c.staleReadAll(i, "more/", more)
		c.staleReadAll(i, "k/", acks)
	}
	phase("more written and read")
}

// TestClusterHandoff: the replica whose server proposed a write applies
// the command the server handed over, so that it stores the value the
// request held, not a decoded copy; the other replicas decode the entry,
// and every replica ends in the same state.
func TestClusterHandoff(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	follower := c.followers(leader)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type write struct {
		value []byte
		via   int // the node whose server proposed it
	}
	writes := map[string]write{}
	for _, via := range []int{leader, follower} {
		key := fmt.Sprintf("handoff/put-%d", via)
		w := write{value: []byte("put through node " + key), via: via}
		if resp, err := c.nodes[via].srv.Put(ctx, &kvv1.PutRequest{Key: key, Value: w.value}); err != nil || !resp.Ok {
			t.Fatalf("Put(%q) through node %d = %v, %v", key, via, resp, err)
		}
		writes[key] = w
	}
	var ops []*batchv1.Op
	for _, key := range []string{"handoff/batch-a", "handoff/batch-b"} {
		w := write{value: []byte("batch " + key), via: leader}
		ops = append(ops, putOp(key, string(w.value), nil))
		w.value = ops[len(ops)-1].GetPut().Value
		writes[key] = w
	}
	ops = append(ops, putOp("handoff/batch-a", "refused", u64(1)))
	if _, err := c.nodes[leader].srv.Write(ctx, &batchv1.WriteRequest{Ops: ops}); err != nil {
		t.Fatal(err)
	}

	for _, i := range c.followers(leader) {
		c.waitSameState(i, leader)
	}
	for i, nd := range c.nodes {
		stored := map[string][]byte{}
		for _, e := range dumpReplica(t, nd.r).Entries {
			stored[e.Key] = e.Value
		}
		for key, w := range writes {
			got := stored[key]
			if string(got) != string(w.value) {
				t.Fatalf("node %d: %q = %q, want %q", i, key, got, w.value)
			}
			if handed := &got[0] == &w.value[0]; handed != (i == w.via) {
				t.Errorf("node %d: %q is the request's own value: %v, want %v (proposed through node %d)",
					i, key, handed, i == w.via, w.via)
			}
		}
		if n := nd.handoff.Pending(); n != 0 {
			t.Errorf("node %d: %d commands left in its handoff", i, n)
		}
	}
}

// readSignal tells when a linearizable read has been answered: for a
// blocking query, that it has registered its watch and is about to wait.
type readSignal struct {
	server.Raft
	done chan struct{}
}

func (r readSignal) Read(ctx context.Context, q any) (any, error) {
	v, err := r.Raft.Read(ctx, q)
	select {
	case r.done <- struct{}{}:
	default:
	}
	return v, err
}

func TestClusterBlockingGet(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	f := c.followers(leader)

	put := func(t *testing.T, node int, key, value string) uint64 {
		t.Helper()
		resp, err := c.nodes[node].srv.Put(context.Background(), &kvv1.PutRequest{Key: key, Value: []byte(value)})
		if err != nil || !resp.Ok {
			t.Fatalf("Put(%q) = %v, %v", key, resp, err)
		}
		return resp.Index
	}

	tests := []struct {
		name            string
		blocker, writer int
		// req is the blocking query of the test's keys under dir.
		req func(dir string) *kvv1.GetRequest
		// change writes under dir through writer; unrelated writes beside
		// it, which must not end the query.
		change    func(t *testing.T, writer int, dir string) uint64
		unrelated func(t *testing.T, writer int, dir string)
		wait      time.Duration
		// check checks the answer.
		check func(resp *kvv1.GetResponse, dir string) error
	}{
		{
			name: "key on follower woken by put through leader", blocker: f[0], writer: leader,
			req:    func(dir string) *kvv1.GetRequest { return &kvv1.GetRequest{Key: dir + "key"} },
			change: func(t *testing.T, w int, dir string) uint64 { return put(t, w, dir+"key", "v2") },
			wait:   10 * time.Second,
			check:  valueIs("v2"),
		},
		{
			name: "key on follower woken by put through other follower", blocker: f[0], writer: f[1],
			req:    func(dir string) *kvv1.GetRequest { return &kvv1.GetRequest{Key: dir + "key"} },
			change: func(t *testing.T, w int, dir string) uint64 { return put(t, w, dir+"key", "v2") },
			wait:   10 * time.Second,
			check:  valueIs("v2"),
		},
		{
			name: "key on leader woken by put through follower", blocker: leader, writer: f[1],
			req:    func(dir string) *kvv1.GetRequest { return &kvv1.GetRequest{Key: dir + "key"} },
			change: func(t *testing.T, w int, dir string) uint64 { return put(t, w, dir+"key", "v2") },
			wait:   10 * time.Second,
			check:  valueIs("v2"),
		},
		{
			name: "key woken by delete", blocker: f[1], writer: f[0],
			req: func(dir string) *kvv1.GetRequest { return &kvv1.GetRequest{Key: dir + "key"} },
			change: func(t *testing.T, w int, dir string) uint64 {
				resp, err := c.nodes[w].srv.Delete(context.Background(), &kvv1.DeleteRequest{Key: dir + "key"})
				if err != nil || !resp.Ok {
					t.Fatalf("Delete = %v, %v", resp, err)
				}
				return resp.Index
			},
			wait: 10 * time.Second,
			check: func(resp *kvv1.GetResponse, _ string) error {
				if len(resp.Pairs) != 0 {
					return fmt.Errorf("pairs %v after delete", resp.Pairs)
				}
				return nil
			},
		},
		{
			name: "recurse woken by new key under prefix", blocker: f[0], writer: leader,
			req:    func(dir string) *kvv1.GetRequest { return &kvv1.GetRequest{Key: dir, Recurse: true} },
			change: func(t *testing.T, w int, dir string) uint64 { return put(t, w, dir+"new", "n") },
			wait:   10 * time.Second,
			check: func(resp *kvv1.GetResponse, dir string) error {
				if len(resp.Pairs) != 2 || resp.Pairs[0].Key != dir+"key" || resp.Pairs[1].Key != dir+"new" {
					return fmt.Errorf("pairs %v, want %skey and %snew", resp.Pairs, dir, dir)
				}
				return nil
			},
		},
		{
			name: "keys woken by new key under prefix", blocker: f[1], writer: f[0],
			req: func(dir string) *kvv1.GetRequest {
				return &kvv1.GetRequest{Key: dir, KeysOnly: true, Separator: "/"}
			},
			change: func(t *testing.T, w int, dir string) uint64 { return put(t, w, dir+"sub/x", "n") },
			wait:   10 * time.Second,
			check: func(resp *kvv1.GetResponse, dir string) error {
				if want := []string{dir + "key", dir + "sub/"}; !reflect.DeepEqual(resp.Keys, want) {
					return fmt.Errorf("keys %q, want %q", resp.Keys, want)
				}
				return nil
			},
		},
		{
			name: "unchanged key times out", blocker: f[0], writer: leader,
			req: func(dir string) *kvv1.GetRequest { return &kvv1.GetRequest{Key: dir + "key"} },
			// Writes beside the key move the shard's index, not the key's.
			// "key2" has the watched key as a prefix, so it wakes the query
			// (the hub watches prefixes), which must re-read and wait on.
			unrelated: func(t *testing.T, w int, dir string) {
				put(t, w, dir+"other", "x")
				put(t, w, dir+"key2", "x")
			},
			wait:  200 * time.Millisecond,
			check: valueIs("v1"),
		},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fmt.Sprintf("blk/%d/", n)
			setIndex := put(t, tt.writer, dir+"key", "v1")

			// The current index, as a client would learn it.
			req := tt.req(dir)
			first, err := c.nodes[tt.blocker].srv.Get(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			minIndex := first.Meta.Index
			if minIndex != setIndex {
				t.Fatalf("first Get: index %d, want the put's %d", minIndex, setIndex)
			}

			bn := c.nodes[tt.blocker]
			signal := readSignal{Raft: bn.r, done: make(chan struct{}, 1)}
			srv, err := server.New(server.DefaultConfig(), signal, bn.hub, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Options = &queryv1.QueryOptions{MinIndex: minIndex, Wait: durationpb.New(tt.wait)}
			type result struct {
				resp    *kvv1.GetResponse
				err     error
				elapsed time.Duration
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				resp, err := srv.Get(ctx, req)
				done <- result{resp, err, time.Since(start)}
			}()
			select {
			case <-signal.done:
			case r := <-done:
				t.Fatalf("blocking Get returned at once: %v, %v", r.resp, r.err)
			case <-time.After(10 * time.Second):
				t.Fatal("blocking Get made no read")
			}

			var changeIndex uint64
			if tt.unrelated != nil {
				tt.unrelated(t, tt.writer, dir)
			}
			if tt.change != nil {
				changeIndex = tt.change(t, tt.writer, dir)
			}

			var r result
			select {
			case r = <-done:
			case <-time.After(tt.wait + 10*time.Second):
				t.Fatal("blocking Get did not return")
			}
			if r.err != nil {
				t.Fatalf("blocking Get: %v", r.err)
			}
			if tt.change != nil {
				if r.resp.Meta.Index != changeIndex || changeIndex <= minIndex {
					t.Errorf("index %d, want the change's %d (above %d)", r.resp.Meta.Index, changeIndex, minIndex)
				}
				// Woken, not timed out.
				if r.elapsed >= tt.wait {
					t.Errorf("returned after %v, the whole wait", r.elapsed)
				}
			} else {
				if r.resp.Meta.Index != minIndex {
					t.Errorf("index %d, want the unchanged %d", r.resp.Meta.Index, minIndex)
				}
				if r.elapsed < tt.wait {
					t.Errorf("returned after %v, before the wait of %v", r.elapsed, tt.wait)
				}
				if r.elapsed > tt.wait+2*time.Second {
					t.Errorf("returned after %v, long after the wait of %v", r.elapsed, tt.wait)
				}
			}
			if err := tt.check(r.resp, dir); err != nil {
				t.Error(err)
			}
		})
	}
}

func valueIs(want string) func(*kvv1.GetResponse, string) error {
	return func(resp *kvv1.GetResponse, _ string) error {
		if len(resp.Pairs) != 1 || string(resp.Pairs[0].Value) != want {
			return fmt.Errorf("pairs %v, want one with value %q", resp.Pairs, want)
		}
		return nil
	}
}

// dumpState is a replica's whole local state.
type dumpState struct {
	Entries    []store.Entry
	Tombstones []store.Tombstone
	Applied    uint64
}

func dumpReplica(t *testing.T, r *replica.Replica) dumpState {
	t.Helper()
	v, err := r.StaleRead(fsm.Query(func(s *store.Store) any {
		var d dumpState
		s.Entries(func(e *store.Entry) bool {
			d.Entries = append(d.Entries, *e)
			return true
		})
		s.Tombstones(func(tb store.Tombstone) bool {
			d.Tombstones = append(d.Tombstones, tb)
			return true
		})
		d.Applied = s.Applied()
		return d
	}))
	if err != nil {
		t.Fatal(err)
	}
	return v.(dumpState)
}

// waitSameState waits until node i's whole state (entries with their
// indexes, tombstones, applied index) is the leader's, and returns it.
func (c *cluster) waitSameState(i, leader int) dumpState {
	c.t.Helper()
	var want dumpState
	eventually(c.t, 10*time.Second, fmt.Sprintf("node %d matching the leader", i), func() error {
		want = dumpReplica(c.t, c.nodes[leader].r)
		got := dumpReplica(c.t, c.nodes[i].r)
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%d entries, %d tombstones, applied %d; leader %d, %d, %d",
				len(got.Entries), len(got.Tombstones), got.Applied,
				len(want.Entries), len(want.Tombstones), want.Applied)
		}
		return nil
	})
	return want
}

func TestClusterSnapshotRestart(t *testing.T) {
	tests := []struct {
		name string
		// writesWhileDown are made while the node is closed; enough of
		// them compact the leader's log past it, so it must be sent a
		// snapshot.
		writesWhileDown int
	}{
		{"restart from own snapshot", 0},
		{"catch up after log compaction", 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, 3, func(cfg *replica.Config) {
				cfg.SnapshotEntries = 20
				cfg.CompactionOverhead = 5
			})
			leader := c.waitLeader()
			acks := c.writeKeys(keyNames("s/", 100), []int{leader}, false)
			deleted := map[string]uint64{}
			for i := 0; i < 100; i += 10 {
				key := fmt.Sprintf("s/%03d", i)
				resp, err := c.nodes[leader].srv.Delete(context.Background(), &kvv1.DeleteRequest{Key: key})
				if err != nil || !resp.Ok {
					t.Fatalf("Delete(%q) = %v, %v", key, resp, err)
				}
				delete(acks, key)
				deleted[key] = resp.Index
			}

			down := c.followers(leader)[0]
			// Close it once it has applied everything, so a restart from
			// its own data must give the same state.
			before := c.waitSameState(down, leader)
			c.stop(down)

			if tt.writesWhileDown > 0 {
				late := c.writeKeys(keyNames("late/", tt.writesWhileDown), []int{leader}, false)
				for k, a := range late {
					acks[k] = a
				}
				resp, err := c.nodes[leader].srv.Delete(context.Background(), &kvv1.DeleteRequest{Key: "s/001"})
				if err != nil || !resp.Ok {
					t.Fatalf("Delete = %v, %v", resp, err)
				}
				delete(acks, "s/001")
				deleted["s/001"] = resp.Index
			}

			c.start(down) // the same configuration: InitialMembers are ignored now
			c.staleReadAll(down, "s/", filter(acks, "s/"))
			c.staleReadAll(down, "late/", filter(acks, "late/"))
			after := c.waitSameState(down, leader)
			if tt.writesWhileDown == 0 && !reflect.DeepEqual(after, before) {
				t.Errorf("state after restart differs from before:\n got %+v\nwant %+v", after, before)
			}
			if n := c.nodes[down].recovered.Load(); n == 0 {
				t.Error("the restarted node did not restore a snapshot")
			}
			// Deleted keys keep their deletion index, so blocking queries
			// on them do not go backwards.
			stale := &queryv1.QueryOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE}
			for key, index := range deleted {
				resp, err := c.nodes[down].srv.Get(context.Background(), &kvv1.GetRequest{Key: key, Options: stale})
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.Pairs) != 0 || resp.Meta.Index != index {
					t.Errorf("Get(%q) = %v, index %d; want none at the delete's %d", key, resp.Pairs, resp.Meta.Index, index)
				}
			}
		})
	}
}

func filter(acks map[string]ack, prefix string) map[string]ack {
	out := map[string]ack{}
	for k, a := range acks {
		if strings.HasPrefix(k, prefix) {
			out[k] = a
		}
	}
	return out
}

// TestClusterLastContact: a stale read reports how long ago its server
// last reached the leader (X-Consul-LastContact): 0 on the leader, a
// moment on a follower in touch, and a growing time on a follower cut
// off from the rest.
func TestClusterLastContact(t *testing.T) {
	c := newCluster(t, 3, func(cfg *replica.Config) { cfg.ContactProbeInterval = 50 * time.Millisecond })
	leader := c.waitLeader()
	follower := (leader + 1) % 3
	stale := &queryv1.QueryOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE}
	lastContact := func(i int) (uint64, error) {
		resp, err := c.nodes[i].srv.Get(context.Background(), &kvv1.GetRequest{Key: "k", Options: stale})
		if err != nil {
			return 0, err
		}
		return resp.Meta.LastContactMs, nil
	}
	if ms, err := lastContact(leader); err != nil || ms != 0 {
		t.Fatalf("leader: last contact %d ms, %v; want 0", ms, err)
	}
	// For 1.5 s the follower serves nothing but stale reads, which do not
	// reach the leader; its prober keeps its contact current all the same.
	time.Sleep(1500 * time.Millisecond) // time that must pass, not a wait for an event
	if ms, err := lastContact(follower); err != nil || ms >= 1000 {
		t.Fatalf("follower in touch: last contact %d ms, %v; want under 1000", ms, err)
	}

	for i := range c.nodes {
		if i != follower {
			c.stop(i)
		}
	}
	eventually(t, 10*time.Second, "the cut-off follower's last contact to grow", func() error {
		ms, err := lastContact(follower)
		if err != nil {
			return err
		}
		if ms < 1500 {
			return fmt.Errorf("last contact %d ms", ms)
		}
		return nil
	})
}
