package store_test

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"

	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/registry/fsm/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/registry/store"
)

// populated is a store with nodes, services, node-level and service
// checks, the index of a service whose last instance is gone, and an
// applied index past the last write.
func populated(t *testing.T) *store.Store {
	t.Helper()
	s := store.New()
	n1 := node("n1", "10.0.0.1", "env", "prod")
	n1.Id, n1.TaggedAddresses = "3f2a7c1e-0000-4000-8000-000000000001", map[string]string{"lan": "10.0.0.1"}
	web1 := svc("web1", "web", "v1", "primary")
	web1.Meta, web1.Weights = map[string]string{"version": "1"}, &registryv1.Weights{Passing: 1, Warning: 1}
	web1.TaggedAddresses = map[string]*registryv1.ServiceAddress{"wan": {Address: "1.2.3.4", Port: 443}}
	w1 := chk("w1", "web1", store.StatusPassing)
	w1.Type, w1.Output = "http", "HTTP GET: 200 OK"
	w1.Definition = &registryv1.CheckDefinition{Http: "http://10.0.0.1:8080/health", Interval: "10s",
		Header: map[string]*registryv1.HeaderValues{"X-A": {Values: []string{"1", "2"}}}}
	register(t, s, 5, n1, web1, chk("serfHealth", "", store.StatusPassing), w1)
	register(t, s, 6, node("n1", "10.0.0.1", "env", "prod"), svc("db1", "db"), chk("d1", "db1", store.StatusCritical))
	register(t, s, 7, node("n2", "10.0.0.2"), svc("web2", "web", "v2"), chk("serfHealth", "", store.StatusCritical))
	register(t, s, 8, node("n3", "10.0.0.3"), svc("api1", "api"))
	s.Deregister(9, "n3", "api1", "") // api's extinction index
	register(t, s, 10, node("n2", "10.0.0.22"), nil)
	s.SetApplied(12) // entries that changed nothing still count
	drain(s)
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		store func(t *testing.T) *store.Store
	}{
		{"empty", func(*testing.T) *store.Store { return store.New() }},
		{"populated", populated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.store(t)
			var buf bytes.Buffer
			if err := s.WriteSnapshot(&buf); err != nil {
				t.Fatal(err)
			}
			got, err := store.ReadSnapshot(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatalf("ReadSnapshot: %v", err)
			}
			if d := catalogOf(s).diff(catalogOf(got)); d != "" {
				t.Errorf("restored store differs:\n%s", d)
			}
			if ev, tp := takeEvents(got), got.TakeTouched(); len(ev) != 0 || len(tp) != 0 {
				t.Errorf("restored store has events %v touched %q", ev, tp)
			}
		})
	}

	// Spot checks that do not rely on catalogOf.
	s := populated(t)
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := store.ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Node("n1"); n.CreateIndex != 5 || n.ModifyIndex != 6 {
		t.Errorf("n1 = %v, want the one registered at 5 and changed at 6", n)
	}
	if got.Applied() != 12 {
		t.Errorf("Applied = %d, want 12", got.Applied())
	}
	for topic, want := range map[string]uint64{
		store.TopicNodes: 10, store.TopicServices: 9, store.TopicChecks: 7,
		store.TopicService("api"): 9, store.TopicService("web"): 10, store.TopicService("db"): 6,
		store.TopicNode("n1"): 6, store.TopicNode("n2"): 10, store.TopicNode("n3"): 9,
	} {
		if got.Index(topic) != want {
			t.Errorf("Index(%q) = %d, want %d", topic, got.Index(topic), want)
		}
	}
	// The restored store takes writes like the original.
	register(t, got, 13, node("n1", "10.0.0.1", "env", "prod"), svc("web3", "web"))
	if insts, idx := got.ServiceInstances("web", nil, nil); len(insts) != 3 || idx != 13 {
		t.Errorf("web after a write to the restored store: %d instances at %d, want 3 at 13", len(insts), idx)
	}
}

func TestReadSnapshotBad(t *testing.T) {
	var good bytes.Buffer
	if err := populated(t).WriteSnapshot(&good); err != nil {
		t.Fatal(err)
	}
	header := func(h *fsmv1.SnapshotHeader) []byte {
		var buf bytes.Buffer
		if _, err := protodelim.MarshalTo(&buf, h); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"text", []byte("this is not a snapshot")},
		{"JSON", []byte(`{"version":1,"nodes":[]}`)},
		{"truncated varint", []byte{0x80}},
		{"huge length", protowire.AppendVarint(nil, 1<<62)},
		{"length past the end", append(protowire.AppendVarint(nil, 1<<20), 0x08, 0x01)},
		{"wrong version", header(&fsmv1.SnapshotHeader{Version: store.SnapshotVersion + 1})},
		{"version 0", header(&fsmv1.SnapshotHeader{Nodes: 0})},
		{"records missing", header(&fsmv1.SnapshotHeader{Version: store.SnapshotVersion, Nodes: 2, Indexes: 1})},
		{"truncated", good.Bytes()[:good.Len()/2]},
		{"last byte missing", good.Bytes()[:good.Len()-1]},
		{"record not a protobuf", append(header(&fsmv1.SnapshotHeader{Version: store.SnapshotVersion, Nodes: 1}), 0x02, 0xff, 0xff)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.ReadSnapshot(bytes.NewReader(tt.in))
			if !errors.Is(err, store.ErrBadSnapshot) {
				t.Errorf("ReadSnapshot = %v, want ErrBadSnapshot", err)
			}
			if s != nil {
				t.Errorf("ReadSnapshot returned a store with its error")
			}
		})
	}
}
