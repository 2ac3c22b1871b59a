package local_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	"github.com/tribune/tribune/services/health/local"
)

func TestPersistAndLoad(t *testing.T) {
	dir := t.TempDir()
	st := local.New(dir)
	web := &agentv1.ServiceDefinition{Id: "web-1", Name: "web", Port: 80, Tags: []string{"a"}, Meta: map[string]string{"k": "v"}}
	ttl := &agentv1.CheckDefinition{CheckId: "service:web-1", Name: "ttl", ServiceId: "web-1", Ttl: durationpb.New(30 * time.Second)}
	if _, err := st.AddService(web, []*agentv1.CheckDefinition{ttl}, local.FromAPI, false); err != nil {
		t.Fatal(err)
	}
	fromFile := &agentv1.ServiceDefinition{Id: "db", Name: "db"}
	if _, err := st.AddService(fromFile, nil, local.FromFile, false); err != nil {
		t.Fatal(err)
	}
	st.SetStatus("service:web-1", local.Passing, "fine")

	again := local.New(dir)
	if err := again.Load(); err != nil {
		t.Fatal(err)
	}
	svcs := again.Services()
	if len(svcs) != 1 || !proto.Equal(svcs[0].Def, web) {
		t.Fatalf("restored services %v, want only the API-registered web-1", svcs)
	}
	c := again.Check("service:web-1")
	if c == nil || !proto.Equal(c.Def, ttl) {
		t.Fatalf("restored check %+v", c)
	}
	// Statuses are not persisted: a TTL check restarts critical.
	if c.Status != local.Critical || c.Output != "" {
		t.Fatalf("restored status %q %q, want critical and no output", c.Status, c.Output)
	}
}

func TestStateOperations(t *testing.T) {
	st := local.New("")
	if err := st.AddCheck(&agentv1.CheckDefinition{CheckId: "c", ServiceId: "nope"}, local.FromAPI); !errors.Is(err, local.ErrUnknownService) {
		t.Fatalf("check of an unknown service: %v", err)
	}
	svc := &agentv1.ServiceDefinition{Id: "s", Name: "s"}
	checks := []*agentv1.CheckDefinition{{CheckId: "a", ServiceId: "s"}, {CheckId: "b", ServiceId: "s", Status: local.Passing}}
	if _, err := st.AddService(svc, checks, local.FromAPI, false); err != nil {
		t.Fatal(err)
	}
	if st.Check("a").Status != local.Critical || st.Check("b").Status != local.Passing {
		t.Fatal("initial statuses: want critical by default and the definition's status otherwise")
	}
	// Re-registering an unchanged check keeps its current status.
	st.SetStatus("a", local.Passing, "up")
	removed, err := st.AddService(svc, checks[:1], local.FromAPI, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != "b" || st.Check("b") != nil {
		t.Fatalf("replace-existing-checks removed %v", removed)
	}
	if c := st.Check("a"); c.Status != local.Passing || c.Output != "up" {
		t.Fatalf("unchanged check lost its status: %+v", c)
	}
	if st.SetStatus("a", local.Passing, "up") {
		t.Fatal("SetStatus reported a change for the same status and output")
	}
	gone, err := st.RemoveService("s")
	if err != nil || len(gone) != 1 || st.Check("a") != nil {
		t.Fatalf("RemoveService: %v %v", gone, err)
	}
	if _, err := st.RemoveService("s"); !errors.Is(err, local.ErrUnknownService) {
		t.Fatalf("removing twice: %v", err)
	}
	select {
	case <-st.Changed():
	default:
		t.Fatal("no change signalled")
	}
}
