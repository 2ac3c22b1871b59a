package main_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/agenttest"
)

func registerWeb(t *testing.T, c *api.Client, node, addr, id string, tags []string, status string) {
	t.Helper()
	_, err := c.Catalog().Register(&api.CatalogRegistration{
		Node: node, Address: addr, NodeMeta: map[string]string{"rack": "r1"},
		Service: &api.AgentService{ID: id, Service: "web", Tags: tags, Port: 8080, Meta: map[string]string{"version": "1"}},
		Check: &api.AgentCheck{Node: node, CheckID: "web:" + id, Name: "web alive", Status: status, ServiceID: id,
			Output: "HTTP GET: 200 OK"},
	}, nil)
	if err != nil {
		t.Fatalf("register %s on %s: %v", id, node, err)
	}
}

// TestCatalogWithConsulClient registers nodes, services and checks with
// Consul's Go client and reads them back through every catalog and health
// call.
func TestCatalogWithConsulClient(t *testing.T) {
	a := agenttest.Start(t, "")
	c := consulClient(t, a)
	cat, health := c.Catalog(), c.Health()

	// The agent's own node is in the catalog with its serfHealth check and
	// the server's service.
	agenttest.Eventually(t, 20*time.Second, func() error {
		svcs, _, err := cat.Services(nil)
		if err != nil {
			return err
		}
		if _, ok := svcs["tribune"]; !ok {
			return fmt.Errorf("services %v: no tribune", svcs)
		}
		return nil
	})
	nodes, _, err := cat.Nodes(nil)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	self := nodes[0].Node
	checks, _, err := health.Node(self, nil)
	if err != nil || len(checks) != 1 || checks[0].CheckID != "serfHealth" || checks[0].Status != "passing" {
		t.Fatalf("the agent's node checks: %+v %v", checks, err)
	}

	registerWeb(t, c, "n1", "10.0.0.1", "web-1", []string{"v1", "primary"}, "passing")
	registerWeb(t, c, "n2", "10.0.0.2", "web-2", []string{"v1"}, "critical")
	// A node-level check on n1, passing.
	if _, err := cat.Register(&api.CatalogRegistration{Node: "n1", Address: "10.0.0.1", NodeMeta: map[string]string{"rack": "r1"},
		Check: &api.AgentCheck{Node: "n1", CheckID: "disk", Name: "disk", Status: "passing"}}, nil); err != nil {
		t.Fatal(err)
	}

	dcs, err := cat.Datacenters()
	if err != nil || !slices.Equal(dcs, []string{"dc1"}) {
		t.Fatalf("datacenters: %v %v", dcs, err)
	}
	svcs, _, err := cat.Services(nil)
	if err != nil || !slices.Equal(svcs["web"], []string{"primary", "v1"}) {
		t.Fatalf("services: %v %v", svcs, err)
	}
	inst, _, err := cat.Service("web", "", nil)
	if err != nil || len(inst) != 2 || inst[0].Node != "n1" || inst[0].ServiceID != "web-1" || inst[0].Address != "10.0.0.1" ||
		inst[0].ServiceAddress != "" || inst[0].ServicePort != 8080 || inst[0].ServiceWeights.Passing != 1 || inst[0].ServiceMeta["version"] != "1" {
		t.Fatalf("catalog service web: %+v %v", inst, err)
	}
	inst, _, err = cat.ServiceMultipleTags("web", []string{"v1", "primary"}, nil)
	if err != nil || len(inst) != 1 || inst[0].ServiceID != "web-1" {
		t.Fatalf("web with tags v1 and primary: %+v %v", inst, err)
	}
	inst, _, err = cat.Service("web", "v1", &api.QueryOptions{NodeMeta: map[string]string{"rack": "r2"}})
	if err != nil || len(inst) != 0 {
		t.Fatalf("web on rack r2: %+v %v", inst, err)
	}
	node, _, err := cat.Node("n1", nil)
	if err != nil || node == nil || node.Node.Address != "10.0.0.1" || node.Services["web-1"] == nil {
		t.Fatalf("catalog node n1: %+v %v", node, err)
	}
	if missing, _, err := cat.Node("nowhere", nil); err != nil || missing != nil {
		t.Fatalf("unknown node: %+v %v", missing, err)
	}

	entries, _, err := health.Service("web", "", false, nil)
	if err != nil || len(entries) != 2 {
		t.Fatalf("health service web: %+v %v", entries, err)
	}
	if ids := checkIDs(entries[0].Checks); ids != "disk,web:web-1" {
		t.Fatalf("checks of web-1: %s, want the node check and its own", ids)
	}
	passing, _, err := health.Service("web", "", true, nil)
	if err != nil || len(passing) != 1 || passing[0].Service.ID != "web-1" {
		t.Fatalf("passing instances of web: %+v %v", passing, err)
	}
	critical, _, err := health.State("critical", nil)
	if err != nil || checkIDs(critical) != "web:web-2" {
		t.Fatalf("critical checks: %+v %v", critical, err)
	}
	svcChecks, _, err := health.Checks("web", nil)
	if err != nil || checkIDs(svcChecks) != "web:web-1,web:web-2" || svcChecks[0].ServiceName != "web" {
		t.Fatalf("checks of web: %+v %v", svcChecks, err)
	}
	// Consul's client refuses an unknown state itself; the server must too.
	if resp, err := http.Get(a.URL("/v1/health/state/bogus")); err != nil || resp.StatusCode != 400 {
		t.Fatalf("unknown state: %v %v, want a 400", resp, err)
	}

	// Deregistering a service leaves the node; deregistering the node takes
	// everything on it.
	if _, err := cat.Deregister(&api.CatalogDeregistration{Node: "n2", ServiceID: "web-2"}, nil); err != nil {
		t.Fatal(err)
	}
	if n2, _, _ := cat.Node("n2", nil); n2 == nil || len(n2.Services) != 0 {
		t.Fatalf("n2 after deregistering web-2: %+v", n2)
	}
	if _, err := cat.Deregister(&api.CatalogDeregistration{Node: "n2"}, nil); err != nil {
		t.Fatal(err)
	}
	if n2, _, _ := cat.Node("n2", nil); n2 != nil {
		t.Fatalf("n2 after deregistering it: %+v", n2)
	}
}

func checkIDs(cs api.HealthChecks) string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.CheckID)
	}
	return strings.Join(ids, ",")
}

// TestCatalogBlockingQueries checks that blocking catalog queries wake on
// the changes they depend on, including the removal of a service's last
// instance.
func TestCatalogBlockingQueries(t *testing.T) {
	a := agenttest.Start(t, "")
	c := consulClient(t, a)
	cat, health := c.Catalog(), c.Health()

	// The server registers its own tribune service as it starts; a query
	// that began before that would rightly wake on it, without api.
	var meta *api.QueryMeta
	agenttest.Eventually(t, 15*time.Second, func() error {
		s, m, err := cat.Services(nil)
		if err != nil {
			return err
		}
		if _, ok := s["tribune"]; !ok {
			return fmt.Errorf("the agent has not registered its tribune service yet: %v", s)
		}
		meta = m
		return nil
	})
	type res struct {
		index uint64
		n     int
		err   error
	}
	woken := make(chan res, 1)
	go func() {
		s, m, err := cat.Services(&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
		if err != nil {
			woken <- res{err: err}
			return
		}
		_, has := s["api"]
		woken <- res{index: m.LastIndex, n: map[bool]int{true: 1}[has]}
	}()
	if _, err := cat.Register(&api.CatalogRegistration{Node: "n1", Address: "10.0.0.1",
		Service: &api.AgentService{Service: "api", Port: 80}}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-woken:
		if r.err != nil || r.index <= meta.LastIndex || r.n != 1 {
			t.Fatalf("services query woken with %+v, want api and an index above %d", r, meta.LastIndex)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("blocking Catalog().Services not woken by a registration")
	}

	entries, hm, err := health.Service("api", "", false, nil)
	if err != nil || len(entries) != 1 {
		t.Fatalf("health service api: %+v %v", entries, err)
	}
	gone := make(chan res, 1)
	go func() {
		es, m, err := health.Service("api", "", false, &api.QueryOptions{WaitIndex: hm.LastIndex, WaitTime: 30 * time.Second})
		if err != nil {
			gone <- res{err: err}
			return
		}
		gone <- res{index: m.LastIndex, n: len(es)}
	}()
	if _, err := cat.Deregister(&api.CatalogDeregistration{Node: "n1", ServiceID: "api"}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-gone:
		if r.err != nil || r.n != 0 || r.index <= hm.LastIndex {
			t.Fatalf("health query woken with %+v, want [] and an index above %d", r, hm.LastIndex)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("blocking Health().Service not woken by the removal of the last instance")
	}
}
