package catalogsync_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/health/catalogsync"
	"github.com/tribune/tribune/services/health/local"
	"github.com/tribune/tribune/services/registry/registrytest"
)

const node = "agent-1"

func newSyncer(t *testing.T, reg *registrytest.Registry, st *local.State) *catalogsync.Syncer {
	t.Helper()
	cfg := catalogsync.DefaultConfig()
	cfg.Node = &registryv1.Node{Node: node, Address: "127.0.0.1", Meta: map[string]string{"rack": "r1"}}
	s, err := catalogsync.New(cfg, st, reg.Client)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// catalogView lists the node's services and checks in the catalog as
// "id" and "id=status" strings.
func catalogView(t *testing.T, reg *registrytest.Registry) (services, checks string) {
	t.Helper()
	ctx := context.Background()
	ns, err := reg.Client.NodeServices(ctx, &registryv1.NodeServicesRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := reg.Client.NodeChecks(ctx, &registryv1.NodeChecksRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	var sv, cv []string
	for _, v := range ns.Services {
		sv = append(sv, v.Id)
	}
	for _, c := range nc.Checks {
		cv = append(cv, c.CheckId+"="+c.Status)
	}
	sort.Strings(sv)
	sort.Strings(cv)
	return strings.Join(sv, ","), strings.Join(cv, ",")
}

func TestSyncOnceMakesTheCatalogEqualToLocalState(t *testing.T) {
	// The registry registers its own node as "agent-1", with serfHealth
	// and the tribune service: the records the servers own.
	reg := registrytest.Start(t, node)
	st := local.New("")
	web := &agentv1.ServiceDefinition{Id: "web-1", Name: "web", Port: 80, Tags: []string{"v1"}}
	webCheck := &agentv1.CheckDefinition{CheckId: "service:web-1", Name: "web", ServiceId: "web-1", Ttl: durationpb.New(time.Minute)}
	if _, err := st.AddService(web, []*agentv1.CheckDefinition{webCheck}, local.FromAPI, false); err != nil {
		t.Fatal(err)
	}
	if err := st.AddCheck(&agentv1.CheckDefinition{CheckId: "mem", Name: "mem", Status: "passing"}, local.FromAPI); err != nil {
		t.Fatal(err)
	}
	s := newSyncer(t, reg, st)
	ctx := context.Background()
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	svcs, checks := catalogView(t, reg)
	if svcs != "tribune,web-1" || checks != "mem=passing,serfHealth=passing,service:web-1=critical" {
		t.Fatalf("after the first sync: services %q, checks %q", svcs, checks)
	}

	// A status change reaches the catalog.
	st.SetStatus("service:web-1", "passing", "ok")
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, checks := catalogView(t, reg); !strings.Contains(checks, "service:web-1=passing") {
		t.Fatalf("status change not synced: %s", checks)
	}

	// Drift made by others is repaired: a removed service comes back with
	// its check, a stranger on this node goes, the server's records stay.
	if _, err := reg.Client.Deregister(ctx, &registryv1.DeregisterRequest{Node: node, ServiceId: "web-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Client.Register(ctx, &registryv1.RegisterRequest{Node: &registryv1.Node{Node: node, Address: "127.0.0.1"},
		Service: &registryv1.Service{Id: "stranger", Service: "stranger"}, SkipNodeUpdate: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	svcs, checks = catalogView(t, reg)
	if svcs != "tribune,web-1" || checks != "mem=passing,serfHealth=passing,service:web-1=passing" {
		t.Fatalf("after repairing drift: services %q, checks %q", svcs, checks)
	}

	// A sync with nothing to do writes nothing: the catalog's index stays.
	before, err := reg.Client.NodeServices(ctx, &registryv1.NodeServicesRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := reg.Client.NodeServices(ctx, &registryv1.NodeServicesRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if after.Meta.Index != before.Meta.Index {
		t.Fatalf("an idle sync moved the node's index from %d to %d", before.Meta.Index, after.Meta.Index)
	}
}

func TestRunSyncsEachChange(t *testing.T) {
	reg := registrytest.Start(t, node)
	st := local.New("")
	s := newSyncer(t, reg, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	if err := st.AddCheck(&agentv1.CheckDefinition{CheckId: "disk", Name: "disk", Status: "warning"}, local.FromAPI); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, checks := catalogView(t, reg); strings.Contains(checks, "disk=warning") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a local change did not reach the catalog")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestScaledInterval(t *testing.T) {
	tests := []struct {
		nodes int
		want  float64
	}{{1, 1}, {128, 1}, {129, 2}, {256, 2}, {257, 3}, {4096, 6}}
	for _, tt := range tests {
		if got := catalogsync.ScaleFactor(tt.nodes); got != tt.want {
			t.Errorf("ScaleFactor(%d) = %v, want %v", tt.nodes, got, tt.want)
		}
	}
}
