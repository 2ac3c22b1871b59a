package main_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tribune/tribune/cmd/tribune/internal/agenttest"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// TestGRPCAPIAndWatch drives the public gRPC port with the generated SDK:
// writes and reads, a watch of a prefix, and a watch resumed from an index
// that replays what it missed, deletes included.
func TestGRPCAPIAndWatch(t *testing.T) {
	a := agenttest.Start(t, "")
	conn := a.GRPCConn()
	kv := kvv1.NewKVServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	put := func(key, value string) uint64 {
		t.Helper()
		resp, err := kv.Put(ctx, &kvv1.PutRequest{Key: key, Value: []byte(value)})
		if err != nil || !resp.Ok || resp.Index == 0 {
			t.Fatalf("put %s: %v %v", key, resp, err)
		}
		return resp.Index
	}
	first := put("svc/a", "1")
	got, err := kv.Get(ctx, &kvv1.GetRequest{Key: "svc/a"})
	if err != nil || len(got.Pairs) != 1 || string(got.Pairs[0].Value) != "1" || got.Meta.Index != first {
		t.Fatalf("get: %v %v", got, err)
	}
	if _, err := kv.Get(ctx, &kvv1.GetRequest{Key: "x", Options: &queryv1.QueryOptions{Datacenter: "dc9"}}); status.Code(err) != codes.Unavailable {
		t.Fatalf("get in an unknown datacenter: %v, want Unavailable", err)
	}

	wctx, wcancel := context.WithCancel(ctx)
	stream, err := kv.Watch(wctx, &kvv1.WatchRequest{Prefix: "svc/"})
	if err != nil {
		t.Fatal(err)
	}
	initial, err := stream.Recv()
	if err != nil || len(initial.Events) != 1 || initial.Events[0].Pair.Key != "svc/a" || initial.Index != first {
		t.Fatalf("initial watch response: %v %v", initial, err)
	}
	put("other/x", "ignored")
	second := put("svc/b", "2")
	next, err := stream.Recv()
	if err != nil || len(next.Events) != 1 || next.Events[0].Pair.Key != "svc/b" ||
		next.Events[0].Type != kvv1.Event_TYPE_PUT || next.Index != second {
		t.Fatalf("watch event: %v %v", next, err)
	}
	wcancel()

	// While nobody watches: a delete and a put. A watch resumed from the
	// last index seen replays both, in index order.
	del, err := kv.Delete(ctx, &kvv1.DeleteRequest{Key: "svc/a"})
	if err != nil || !del.Ok {
		t.Fatalf("delete: %v %v", del, err)
	}
	third := put("svc/c", "3")
	resumed, err := kv.Watch(ctx, &kvv1.WatchRequest{Prefix: "svc/", StartIndex: second})
	if err != nil {
		t.Fatal(err)
	}
	replay, err := resumed.Recv()
	if err != nil || len(replay.Events) != 2 || replay.Index != third {
		t.Fatalf("resumed watch: %v %v", replay, err)
	}
	if e := replay.Events[0]; e.Type != kvv1.Event_TYPE_DELETE || e.Pair.Key != "svc/a" || e.Pair.ModifyIndex != del.Index {
		t.Fatalf("first replayed event %v, want the delete of svc/a at %d", e, del.Index)
	}
	if e := replay.Events[1]; e.Type != kvv1.Event_TYPE_PUT || e.Pair.Key != "svc/c" {
		t.Fatalf("second replayed event %v, want the put of svc/c", e)
	}
}

// TestGRPCCatalogWatch streams catalog changes through the public gRPC
// port: the whole catalog first, then each registration, and a watch
// resumed from an index replays what it missed, deletes included.
func TestGRPCCatalogWatch(t *testing.T) {
	a := agenttest.Start(t, "")
	conn := a.GRPCConn()
	reg := registryv1.NewRegistryServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	wctx, wcancel := context.WithCancel(ctx)
	stream, err := reg.Watch(wctx, &registryv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	initial, err := stream.Recv()
	if err != nil || initial.Index == 0 {
		t.Fatalf("initial catalog: %v %v", initial, err)
	}
	register := func(id string) uint64 {
		t.Helper()
		resp, err := reg.Register(ctx, &registryv1.RegisterRequest{
			Node:    &registryv1.Node{Node: "ext-1", Address: "10.1.1.1"},
			Service: &registryv1.Service{Id: id, Service: "db", Port: 5432},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Index
	}
	first := register("db-1")
	// The events of the registration: the new node and the service, at its
	// index (the agent's own sync may add events of its own first).
	var seen []string
	for !slices.Contains(seen, "service db-1") {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			if ev.GetService() != nil && ev.Index == first {
				seen = append(seen, "service "+ev.GetService().Id)
			}
			if ev.GetNode() != nil && ev.GetNode().Node == "ext-1" && ev.Index == first {
				seen = append(seen, "node ext-1")
			}
		}
	}
	if !slices.Contains(seen, "node ext-1") {
		t.Fatalf("events of the registration: %v, want the node and the service", seen)
	}
	wcancel()

	if _, err := reg.Deregister(ctx, &registryv1.DeregisterRequest{Node: "ext-1", ServiceId: "db-1"}); err != nil {
		t.Fatal(err)
	}
	register("db-2")
	resumed, err := reg.Watch(ctx, &registryv1.WatchRequest{StartIndex: first})
	if err != nil {
		t.Fatal(err)
	}
	replay, err := resumed.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range replay.Events {
		if s := ev.GetService(); s != nil && s.Service == "db" {
			got = append(got, ev.Type.String()+" "+s.Id)
		}
	}
	if strings.Join(got, ",") != "TYPE_DELETE db-1,TYPE_PUT db-2" {
		t.Fatalf("resumed watch replayed %v", got)
	}
}

// TestGRPCNear: over the public gRPC port, a catalog read with near sorts
// as ?near does over HTTP: the agent's own node, which has a network
// coordinate, before a node registered through the catalog, which has
// none, though its name sorts first.
func TestGRPCNear(t *testing.T) {
	a := agenttest.Start(t, "", "-node", "zz-agent")
	conn := a.GRPCConn()
	reg := registryv1.NewRegistryServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := reg.Register(ctx, &registryv1.RegisterRequest{Node: &registryv1.Node{Node: "aa-external", Address: "10.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	names := func(near string) []string {
		t.Helper()
		resp, err := reg.ListNodes(ctx, &registryv1.ListNodesRequest{Near: near})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range resp.Nodes {
			out = append(out, n.Node)
		}
		return out
	}
	// The agent registers its own node when it starts.
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Contains(names(""), "zz-agent") {
		if time.Now().After(deadline) {
			t.Fatalf("the agent's node is not in the catalog: %v", names(""))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := names(""); !slices.Equal(got, []string{"aa-external", "zz-agent"}) {
		t.Errorf("without near: %v, want the catalog's order by name", got)
	}
	for _, near := range []string{"_agent", "zz-agent"} {
		if got := names(near); !slices.Equal(got, []string{"zz-agent", "aa-external"}) {
			t.Errorf("near %s: %v, want the agent's node first", near, got)
		}
	}
}

// TestConcurrentWritesAreBatched writes from many clients at once through
// the public gRPC port and checks that the gateway batched them: every
// write is acknowledged with its own outcome (one bad write among them
// fails alone), reads back at the index it was acknowledged with, and the
// writes share far fewer Raft entries than there are writes.
func TestConcurrentWritesAreBatched(t *testing.T) {
	a := agenttest.Start(t, "")
	conn := a.GRPCConn()
	kv := kvv1.NewKVServiceClient(conn)
	reg := registryv1.NewRegistryServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 128

	// concurrently runs write(i) for i < n, all released at once, and
	// returns the index each acknowledged and the error of each.
	concurrently := func(write func(i int) (uint64, error)) ([]uint64, []error) {
		indexes, errs := make([]uint64, n), make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				indexes[i], errs[i] = write(i)
			})
		}
		close(start)
		wg.Wait()
		return indexes, errs
	}
	checkBatched := func(what string, indexes []uint64, errs []error, bad int, badCode codes.Code) {
		t.Helper()
		entries := map[uint64]bool{}
		for i, err := range errs {
			if i == bad {
				if status.Code(err) != badCode {
					t.Errorf("%s %d: %v, want %v", what, i, err, badCode)
				}
				continue
			}
			if err != nil || indexes[i] == 0 {
				t.Fatalf("%s %d: index %d, %v", what, i, indexes[i], err)
			}
			entries[indexes[i]] = true
		}
		if len(entries) > n/2 {
			t.Errorf("%d %ss took %d Raft entries: not batched", n-1, what, len(entries))
		}
		t.Logf("%d %ss in %d Raft entries", n-1, what, len(entries))
	}

	const badPut = 17
	indexes, errs := concurrently(func(i int) (uint64, error) {
		value := []byte(fmt.Sprint(i))
		if i == badPut {
			value = make([]byte, 512<<10+1)
		}
		resp, err := kv.Put(ctx, &kvv1.PutRequest{Key: fmt.Sprintf("batched/%03d", i), Value: value})
		return resp.GetIndex(), err
	})
	checkBatched("put", indexes, errs, badPut, codes.ResourceExhausted)
	got, err := kv.Get(ctx, &kvv1.GetRequest{Key: "batched/", Recurse: true})
	if err != nil || len(got.Pairs) != n-1 {
		t.Fatalf("read back: %d pairs, %v; want %d", len(got.GetPairs()), err, n-1)
	}
	for _, p := range got.Pairs {
		var i int
		fmt.Sscanf(strings.TrimPrefix(p.Key, "batched/"), "%d", &i)
		if string(p.Value) != fmt.Sprint(i) || p.ModifyIndex != indexes[i] {
			t.Errorf("%s = %q at %d, want %d at %d", p.Key, p.Value, p.ModifyIndex, i, indexes[i])
		}
	}

	const badRegistration = 5
	indexes, errs = concurrently(func(i int) (uint64, error) {
		addr := fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		if i == badRegistration {
			addr = ""
		}
		resp, err := reg.Register(ctx, &registryv1.RegisterRequest{
			Node:    &registryv1.Node{Node: fmt.Sprintf("batched-%03d", i), Address: addr},
			Service: &registryv1.Service{Service: "batched", Port: int32(1000 + i)},
		})
		return resp.GetIndex(), err
	})
	checkBatched("registration", indexes, errs, badRegistration, codes.InvalidArgument)
	inst, err := reg.ServiceNodes(ctx, &registryv1.ServiceNodesRequest{Service: "batched"})
	if err != nil || len(inst.Instances) != n-1 {
		t.Fatalf("instances: %d, %v; want %d", len(inst.GetInstances()), err, n-1)
	}
}
