package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/registry/store"
)

func node(name, addr string, meta ...string) *registryv1.Node {
	n := &registryv1.Node{Node: name, Address: addr, Datacenter: "dc1"}
	if len(meta) > 0 {
		n.Meta = map[string]string{}
		for i := 0; i+1 < len(meta); i += 2 {
			n.Meta[meta[i]] = meta[i+1]
		}
	}
	return n
}

func svc(id, name string, tags ...string) *registryv1.Service {
	return &registryv1.Service{Id: id, Service: name, Tags: tags, Port: 8080}
}

// chk is a check of the instance serviceID, or a node-level check when
// serviceID is empty. An empty status is left for the store to default.
func chk(id, serviceID, status string) *registryv1.Check {
	return &registryv1.Check{CheckId: id, Name: id, ServiceId: serviceID, Status: status}
}

func register(t *testing.T, s *store.Store, index uint64, n *registryv1.Node, v *registryv1.Service, cs ...*registryv1.Check) {
	t.Helper()
	if err := s.Register(index, n, v, cs, false); err != nil {
		t.Fatalf("Register at %d: %v", index, err)
	}
	s.SetApplied(index)
}

// drain forgets the events and touched topics of the setup.
func drain(s *store.Store) {
	takeEvents(s)
	s.TakeTouched()
}

// topicIndexes returns the index of each topic.
func topicIndexes(s *store.Store, topics ...string) map[string]uint64 {
	m := make(map[string]uint64, len(topics))
	for _, t := range topics {
		m[t] = s.Index(t)
	}
	return m
}

// allTopics are the topics of the nodes n1, n2, n3 and the services web,
// webapp, db and api, with the three tables.
var allTopics = []string{
	store.TopicNodes, store.TopicServices, store.TopicChecks,
	store.TopicNode("n1"), store.TopicNode("n2"), store.TopicNode("n3"),
	store.TopicService("web"), store.TopicService("webapp"), store.TopicService("db"), store.TopicService("api"),
}

// show writes topic indexes readably: "node/n1=5 nodes=7".
func show(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := strings.TrimSuffix(strings.ReplaceAll(strings.TrimSuffix(k, "\x00"), "\x00", "/"), "/")
		parts = append(parts, fmt.Sprintf("%s=%d", name, m[k]))
	}
	return strings.Join(parts, " ")
}

// catalog is everything a store shows through its read methods, for
// comparing two stores or one store before and after a write.
type catalog struct {
	nodes    []*registryv1.Node
	services map[string][]*registryv1.Service
	checks   []*registryv1.Check
	indexes  map[string]uint64
	applied  uint64
}

func catalogOf(s *store.Store) catalog {
	c := catalog{services: map[string][]*registryv1.Service{}, applied: s.Applied()}
	c.nodes, _ = s.Nodes(nil)
	for _, n := range c.nodes {
		_, c.services[n.Node], _ = s.NodeServices(n.Node)
	}
	c.checks, _ = s.ChecksInState("any", nil)
	c.indexes = topicIndexes(s, allTopics...)
	return c
}

func equalMsgs[T proto.Message](a, b []T) bool {
	return slices.EqualFunc(a, b, func(x, y T) bool { return proto.Equal(x, y) })
}

// diff describes how b differs from a, or returns "".
func (a catalog) diff(b catalog) string {
	var d []string
	if !equalMsgs(a.nodes, b.nodes) {
		d = append(d, fmt.Sprintf("nodes %v, want %v", b.nodes, a.nodes))
	}
	if !maps.EqualFunc(a.services, b.services, equalMsgs) {
		d = append(d, fmt.Sprintf("services %v, want %v", b.services, a.services))
	}
	if !equalMsgs(a.checks, b.checks) {
		d = append(d, fmt.Sprintf("checks %v, want %v", b.checks, a.checks))
	}
	if !maps.Equal(a.indexes, b.indexes) {
		d = append(d, fmt.Sprintf("indexes %s, want %s", show(b.indexes), show(a.indexes)))
	}
	if a.applied != b.applied {
		d = append(d, fmt.Sprintf("applied %d, want %d", b.applied, a.applied))
	}
	return strings.Join(d, "\n")
}

func TestRegisterNode(t *testing.T) {
	base := node("n1", "10.0.0.1", "env", "prod")
	tests := []struct {
		name    string
		again   *registryv1.Node
		changed bool
	}{
		{"identical", proto.Clone(base).(*registryv1.Node), false},
		{"identical but for stale indexes", func() *registryv1.Node {
			n := proto.Clone(base).(*registryv1.Node)
			n.CreateIndex, n.ModifyIndex = 99, 99
			return n
		}(), false},
		{"changed address", node("n1", "10.0.0.2", "env", "prod"), true},
		{"changed meta", node("n1", "10.0.0.1", "env", "dev"), true},
		{"meta removed", node("n1", "10.0.0.1"), true},
		{"tagged address added", func() *registryv1.Node {
			n := proto.Clone(base).(*registryv1.Node)
			n.TaggedAddresses = map[string]string{"wan": "1.2.3.4"}
			return n
		}(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			register(t, s, 5, base, svc("web1", "web"))
			drain(s)
			before := topicIndexes(s, allTopics...)

			register(t, s, 9, tt.again, nil)
			got := s.Node("n1")
			events, touched := takeEvents(s), s.TakeTouched()

			if got.CreateIndex != 5 {
				t.Errorf("CreateIndex = %d, want 5", got.CreateIndex)
			}
			if !tt.changed {
				if got.ModifyIndex != 5 {
					t.Errorf("ModifyIndex = %d, want 5 (unchanged)", got.ModifyIndex)
				}
				if after := topicIndexes(s, allTopics...); !maps.Equal(before, after) {
					t.Errorf("indexes moved: %s, want %s", show(after), show(before))
				}
				if len(events) != 0 || len(touched) != 0 {
					t.Errorf("events %v, touched %q; want none", events, touched)
				}
				return
			}
			if got.ModifyIndex != 9 {
				t.Errorf("ModifyIndex = %d, want 9", got.ModifyIndex)
			}
			want := proto.Clone(tt.again).(*registryv1.Node)
			want.CreateIndex, want.ModifyIndex = 5, 9
			if !proto.Equal(got, want) {
				t.Errorf("node = %v, want %v", got, want)
			}
			// The node's record, the nodes table and the health of the
			// services on it changed; the services table did not.
			for _, tp := range []string{store.TopicNodes, store.TopicNode("n1"), store.TopicService("web")} {
				if s.Index(tp) != 9 {
					t.Errorf("Index(%q) = %d, want 9", tp, s.Index(tp))
				}
			}
			if s.Index(store.TopicServices) != 5 {
				t.Errorf("Index(services) = %d, want 5", s.Index(store.TopicServices))
			}
			if len(events) != 1 || events[0].GetNode() != got || events[0].Type != registryv1.CatalogEvent_TYPE_PUT || events[0].Index != 9 {
				t.Errorf("events = %v, want one PUT of the new node at 9", events)
			}
		})
	}
}

// TestStoredRecordsAreImmutable: a write stores new records and never
// changes stored ones, so a reader may keep what it read after the lock is
// released (the store takes over what Register is given instead of
// copying it: the state machine gives it records just decoded).
func TestStoredRecordsAreImmutable(t *testing.T) {
	s := store.New()
	register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web", "a"), chk("c1", "web1", store.StatusPassing))
	oldNode := s.Node("n1")
	_, svcs, _ := s.NodeServices("n1")
	oldSvc := svcs[0]
	cs, _ := s.NodeChecks("n1")
	oldCheck := cs[0]

	// The service changes its tags (which its check carries too), the node
	// its address, the check its status.
	register(t, s, 6, node("n1", "10.0.0.2"), svc("web1", "web", "b"))
	register(t, s, 7, node("n1", "10.0.0.2"), nil, chk("c1", "web1", store.StatusCritical))

	if oldNode.Address != "10.0.0.1" || oldNode.ModifyIndex != 5 {
		t.Errorf("a node read before the writes is now %v", oldNode)
	}
	if oldSvc.Tags[0] != "a" || oldSvc.ModifyIndex != 5 {
		t.Errorf("a service read before the writes is now %v", oldSvc)
	}
	if oldCheck.Status != store.StatusPassing || oldCheck.ServiceTags[0] != "a" || oldCheck.ModifyIndex != 5 {
		t.Errorf("a check read before the writes is now %v", oldCheck)
	}
	cs, _ = s.NodeChecks("n1")
	if got := s.Node("n1"); got.Address != "10.0.0.2" || got.ModifyIndex != 6 {
		t.Errorf("node = %v, want the address of the write at 6", got)
	}
	if cs[0].Status != store.StatusCritical || cs[0].ServiceTags[0] != "b" || cs[0].ModifyIndex != 7 {
		t.Errorf("check = %v, want critical with tag b at 7", cs[0])
	}
}

func TestRegisterServiceAndChecks(t *testing.T) {
	tests := []struct {
		name   string
		svc    *registryv1.Service
		check  *registryv1.Check
		status string // the stored check's status
		sname  string // its ServiceName
		stags  []string
	}{
		{"service check defaults to critical", svc("web1", "web", "v1", "blue"), chk("c1", "web1", ""), store.StatusCritical, "web", []string{"v1", "blue"}},
		{"service check keeps its status", svc("web1", "web", "v1"), chk("c1", "web1", store.StatusPassing), store.StatusPassing, "web", []string{"v1"}},
		{"service check with no tags", svc("web1", "web"), chk("c1", "web1", store.StatusWarning), store.StatusWarning, "web", nil},
		{"node check defaults to critical", svc("web1", "web", "v1"), chk("serfHealth", "", ""), store.StatusCritical, "", nil},
		{"client's ServiceName and tags are overwritten", svc("web1", "web", "v1"), func() *registryv1.Check {
			c := chk("c1", "web1", store.StatusPassing)
			c.ServiceName, c.ServiceTags = "wrong", []string{"wrong"}
			return c
		}(), store.StatusPassing, "web", []string{"v1"}},
		{"node check's ServiceName is cleared", svc("web1", "web"), func() *registryv1.Check {
			c := chk("serfHealth", "", store.StatusPassing)
			c.ServiceName, c.ServiceTags = "wrong", []string{"wrong"}
			return c
		}(), store.StatusPassing, "", nil},
		{"client's check Node is overwritten", svc("web1", "web"), func() *registryv1.Check {
			c := chk("c1", "web1", store.StatusPassing)
			c.Node = "elsewhere"
			return c
		}(), store.StatusPassing, "web", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			register(t, s, 7, node("n1", "10.0.0.1"), tt.svc, tt.check)
			cs, _ := s.NodeChecks("n1")
			if len(cs) != 1 {
				t.Fatalf("checks = %v, want 1", cs)
			}
			c := cs[0]
			if c.Status != tt.status || c.ServiceName != tt.sname || !slices.Equal(c.ServiceTags, tt.stags) {
				t.Errorf("check Status %q ServiceName %q ServiceTags %q; want %q %q %q",
					c.Status, c.ServiceName, c.ServiceTags, tt.status, tt.sname, tt.stags)
			}
			if c.Node != "n1" || c.CreateIndex != 7 || c.ModifyIndex != 7 {
				t.Errorf("check Node %q CreateIndex %d ModifyIndex %d; want n1 7 7", c.Node, c.CreateIndex, c.ModifyIndex)
			}
			_, svcs, _ := s.NodeServices("n1")
			if len(svcs) != 1 || svcs[0].CreateIndex != 7 || svcs[0].ModifyIndex != 7 {
				t.Errorf("services = %v, want one at index 7", svcs)
			}
		})
	}
}

// TestRegisterServiceChange: a changed instance moves its ModifyIndex and
// carries its new name and tags to its checks; a renamed instance wakes
// the queries on its old name, which no longer list it.
func TestRegisterServiceChange(t *testing.T) {
	tests := []struct {
		name    string
		again   *registryv1.Service
		changed bool
	}{
		{"identical", svc("web1", "web", "v1"), false},
		{"new tags", svc("web1", "web", "v2"), true},
		{"new port", func() *registryv1.Service { v := svc("web1", "web", "v1"); v.Port = 9; return v }(), true},
		{"renamed", svc("web1", "api", "v1"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web", "v1"), chk("c1", "web1", store.StatusPassing))
			drain(s)
			before := topicIndexes(s, allTopics...)

			register(t, s, 8, node("n1", "10.0.0.1"), tt.again)
			_, svcs, _ := s.NodeServices("n1")
			v := svcs[0]
			cs, _ := s.NodeChecks("n1")
			c := cs[0]
			touched := s.TakeTouched()
			if v.CreateIndex != 5 {
				t.Errorf("service CreateIndex = %d, want 5", v.CreateIndex)
			}
			if !tt.changed {
				if v.ModifyIndex != 5 || c.ModifyIndex != 5 {
					t.Errorf("ModifyIndex service %d check %d, want 5 5", v.ModifyIndex, c.ModifyIndex)
				}
				if after := topicIndexes(s, allTopics...); !maps.Equal(before, after) || len(touched) != 0 {
					t.Errorf("indexes %s touched %q; want unchanged %s", show(after), touched, show(before))
				}
				return
			}
			if v.ModifyIndex != 8 {
				t.Errorf("service ModifyIndex = %d, want 8", v.ModifyIndex)
			}
			if c.ServiceName != tt.again.Service || !slices.Equal(c.ServiceTags, tt.again.Tags) {
				t.Errorf("check ServiceName %q ServiceTags %q; want %q %q", c.ServiceName, c.ServiceTags, tt.again.Service, tt.again.Tags)
			}
			for _, name := range []string{"web", tt.again.Service} {
				if got := s.Index(store.TopicService(name)); got != 8 {
					t.Errorf("Index(service %s) = %d, want 8", name, got)
				}
			}
			if insts, _ := s.ServiceInstances("web", nil, nil); tt.again.Service != "web" && len(insts) != 0 {
				t.Errorf("web still lists %v after the rename", insts)
			}
		})
	}
}

func TestRegisterRejected(t *testing.T) {
	tests := []struct {
		name     string
		node     *registryv1.Node
		svc      *registryv1.Service
		checks   []*registryv1.Check
		skipNode bool
		reason   string
	}{
		{
			name: "check of an unregistered service",
			node: node("n1", "10.0.0.99", "env", "changed"), svc: svc("db1", "db"),
			checks: []*registryv1.Check{chk("ok", "db1", ""), chk("node-ok", "", ""), chk("bad", "nope", "")},
			reason: `"nope"`,
		},
		{
			name:   "check of a service on another node",
			node:   node("n1", "10.0.0.1"),
			checks: []*registryv1.Check{chk("bad", "web2", "")},
			reason: `"web2"`,
		},
		{
			name: "SkipNodeUpdate for an unknown node",
			node: node("n3", "10.0.0.3"), svc: svc("db1", "db"), skipNode: true,
			reason: `"n3"`,
		},
		{name: "no node", svc: svc("db1", "db"), reason: "node"},
		{name: "node without a name", node: node("", "10.0.0.1"), reason: "node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			register(t, s, 5, node("n1", "10.0.0.1", "env", "prod"), svc("web1", "web"), chk("c1", "web1", store.StatusPassing))
			register(t, s, 6, node("n2", "10.0.0.2"), svc("web2", "web"))
			drain(s)
			before := catalogOf(s)

			err := s.Register(10, tt.node, tt.svc, tt.checks, tt.skipNode)
			if !errors.Is(err, store.ErrRejected) {
				t.Fatalf("Register = %v, want ErrRejected", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not name %s", err, tt.reason)
			}
			if d := before.diff(catalogOf(s)); d != "" {
				t.Errorf("a rejected registration changed the store:\n%s", d)
			}
			if ev, tp := takeEvents(s), s.TakeTouched(); len(ev) != 0 || len(tp) != 0 {
				t.Errorf("events %v touched %q after a rejected registration", ev, tp)
			}
		})
	}
}

func TestRegisterSkipNodeUpdate(t *testing.T) {
	s := store.New()
	register(t, s, 5, node("n1", "10.0.0.1"), nil)
	drain(s)
	// Another address with SkipNodeUpdate: the node is left as it is.
	if err := s.Register(6, node("n1", "192.168.0.1"), svc("web1", "web"), []*registryv1.Check{chk("c1", "web1", "")}, true); err != nil {
		t.Fatal(err)
	}
	if n := s.Node("n1"); n.Address != "10.0.0.1" || n.ModifyIndex != 5 {
		t.Errorf("node = %v, want untouched at 5", n)
	}
	if s.Index(store.TopicNodes) != 5 {
		t.Errorf("Index(nodes) = %d, want 5", s.Index(store.TopicNodes))
	}
	if insts, idx := s.ServiceInstances("web", nil, nil); len(insts) != 1 || idx != 6 {
		t.Errorf("web = %v at %d, want one instance at 6", insts, idx)
	}
}

func TestDeregister(t *testing.T) {
	type deregistration struct{ node, service, check string }
	tests := []struct {
		name         string
		dereg        deregistration
		nodes        []string
		services     []string // node/id
		checks       []string // node/id
		deleteEvents []string
	}{
		{
			name:     "node cascades to its services and checks",
			dereg:    deregistration{node: "n1"},
			nodes:    []string{"n2"},
			services: []string{"n2/web2"},
			checks:   []string{"n2/serfHealth", "n2/w2"},
			deleteEvents: []string{
				"check n1/d1", "check n1/serfHealth", "check n1/w1",
				"node n1", "service n1/db1", "service n1/web1",
			},
		},
		{
			name:         "service takes its checks but not the node's",
			dereg:        deregistration{node: "n1", service: "web1"},
			nodes:        []string{"n1", "n2"},
			services:     []string{"n1/db1", "n2/web2"},
			checks:       []string{"n1/d1", "n1/serfHealth", "n2/serfHealth", "n2/w2"},
			deleteEvents: []string{"check n1/w1", "service n1/web1"},
		},
		{
			name:         "check",
			dereg:        deregistration{node: "n1", check: "w1"},
			nodes:        []string{"n1", "n2"},
			services:     []string{"n1/db1", "n1/web1", "n2/web2"},
			checks:       []string{"n1/d1", "n1/serfHealth", "n2/serfHealth", "n2/w2"},
			deleteEvents: []string{"check n1/w1"},
		},
		{
			name:     "unknown node",
			dereg:    deregistration{node: "n9"},
			nodes:    []string{"n1", "n2"},
			services: []string{"n1/db1", "n1/web1", "n2/web2"},
			checks:   []string{"n1/d1", "n1/serfHealth", "n1/w1", "n2/serfHealth", "n2/w2"},
		},
		{
			name:     "unknown service",
			dereg:    deregistration{node: "n1", service: "web2"},
			nodes:    []string{"n1", "n2"},
			services: []string{"n1/db1", "n1/web1", "n2/web2"},
			checks:   []string{"n1/d1", "n1/serfHealth", "n1/w1", "n2/serfHealth", "n2/w2"},
		},
		{
			name:     "unknown check",
			dereg:    deregistration{node: "n2", check: "w1"},
			nodes:    []string{"n1", "n2"},
			services: []string{"n1/db1", "n1/web1", "n2/web2"},
			checks:   []string{"n1/d1", "n1/serfHealth", "n1/w1", "n2/serfHealth", "n2/w2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web"), chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", store.StatusPassing))
			register(t, s, 6, node("n1", "10.0.0.1"), svc("db1", "db"), chk("d1", "db1", store.StatusPassing))
			register(t, s, 7, node("n2", "10.0.0.2"), svc("web2", "web"), chk("serfHealth", "", store.StatusPassing), chk("w2", "web2", store.StatusPassing))
			drain(s)
			before := topicIndexes(s, allTopics...)

			s.Deregister(20, tt.dereg.node, tt.dereg.service, tt.dereg.check)

			var nodes, services, checks []string
			ns, _ := s.Nodes(nil)
			for _, n := range ns {
				nodes = append(nodes, n.Node)
				_, svcs, _ := s.NodeServices(n.Node)
				for _, v := range svcs {
					services = append(services, n.Node+"/"+v.Id)
				}
			}
			cs, _ := s.ChecksInState("any", nil)
			for _, c := range cs {
				checks = append(checks, c.Node+"/"+c.CheckId)
			}
			if !slices.Equal(nodes, tt.nodes) || !slices.Equal(services, tt.services) || !slices.Equal(checks, tt.checks) {
				t.Errorf("after deregistration: nodes %q services %q checks %q\nwant nodes %q services %q checks %q",
					nodes, services, checks, tt.nodes, tt.services, tt.checks)
			}
			// What was removed is gone from every read, not only the lists.
			for _, id := range []string{"n1", "n2"} {
				if s.Node(id) == nil && len(must(s.NodeChecks(id))) != 0 {
					t.Errorf("NodeChecks(%s) lists checks of a deregistered node", id)
				}
			}

			var deletes []string
			for _, ev := range takeEvents(s) {
				if ev.Index != 20 || ev.Type != registryv1.CatalogEvent_TYPE_DELETE {
					t.Errorf("event %v, want a DELETE at 20", ev)
				}
				deletes = append(deletes, describe(ev))
			}
			sort.Strings(deletes)
			if !slices.Equal(deletes, tt.deleteEvents) {
				t.Errorf("delete events %q, want %q", deletes, tt.deleteEvents)
			}
			if len(tt.deleteEvents) == 0 {
				if after := topicIndexes(s, allTopics...); !maps.Equal(before, after) || len(s.TakeTouched()) != 0 {
					t.Errorf("removing nothing moved indexes: %s, want %s", show(after), show(before))
				}
			}
		})
	}
}

func must[T any](v T, _ uint64) T { return v }

// describe names an event's record: "node n1", "service n1/web1",
// "check n1/c1".
func describe(ev *registryv1.CatalogEvent) string {
	switch r := ev.Record.(type) {
	case *registryv1.CatalogEvent_Node:
		return "node " + r.Node.Node
	case *registryv1.CatalogEvent_Service:
		return "service " + ev.NodeName + "/" + r.Service.Id
	case *registryv1.CatalogEvent_Check:
		return "check " + ev.NodeName + "/" + r.Check.CheckId
	}
	return fmt.Sprintf("record %T", ev.Record)
}

// TestDeregisterIndexes checks the index of each topic a deregistration
// moves, and that the last instance's removal moves its service's index
// (Consul's extinction index) so a blocking query wakes to an empty list.
func TestDeregisterIndexes(t *testing.T) {
	type deregistration struct{ node, service, check string }
	tests := []struct {
		name  string
		dereg deregistration
		moved []string // topics now at 20; the others keep their index
	}{
		{"last instance of db", deregistration{node: "n1", service: "db1"},
			[]string{store.TopicServices, store.TopicChecks, store.TopicNode("n1"), store.TopicService("db")}},
		{"one of two web instances", deregistration{node: "n1", service: "web1"},
			[]string{store.TopicServices, store.TopicChecks, store.TopicNode("n1"), store.TopicService("web")}},
		{"node n1 (last db)", deregistration{node: "n1"},
			[]string{store.TopicNodes, store.TopicServices, store.TopicChecks, store.TopicNode("n1"), store.TopicService("web"), store.TopicService("db")}},
		{"node-level check", deregistration{node: "n1", check: "serfHealth"},
			[]string{store.TopicChecks, store.TopicNode("n1"), store.TopicService("web"), store.TopicService("db")}},
		{"service check", deregistration{node: "n1", check: "d1"},
			[]string{store.TopicChecks, store.TopicNode("n1"), store.TopicService("db")}},
		{"last instance of api, which has no checks", deregistration{node: "n2", service: "api1"},
			[]string{store.TopicServices, store.TopicNode("n2"), store.TopicService("api")}},
		{"node n2 (last api)", deregistration{node: "n2"},
			[]string{store.TopicNodes, store.TopicServices, store.TopicNode("n2"), store.TopicService("web"), store.TopicService("api")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web"), chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", store.StatusPassing))
			register(t, s, 6, node("n1", "10.0.0.1"), svc("db1", "db"), chk("d1", "db1", store.StatusPassing))
			register(t, s, 7, node("n2", "10.0.0.2"), svc("web2", "web"))
			register(t, s, 8, node("n2", "10.0.0.2"), svc("api1", "api"))
			drain(s)
			before := topicIndexes(s, allTopics...)

			s.Deregister(20, tt.dereg.node, tt.dereg.service, tt.dereg.check)

			want := maps.Clone(before)
			for _, tp := range tt.moved {
				want[tp] = 20
			}
			if got := topicIndexes(s, allTopics...); !maps.Equal(got, want) {
				t.Errorf("indexes %s\nwant %s", show(got), show(want))
			}
			touched := s.TakeTouched()
			if !sameSet(touched, tt.moved) {
				t.Errorf("touched %q, want %q", touched, tt.moved)
			}
			// The services left with no instance.
			for _, name := range []string{"db", "api"} {
				if !strings.Contains(tt.name, "last "+name) {
					continue
				}
				insts, idx := s.ServiceInstances(name, nil, nil)
				if len(insts) != 0 || idx <= before[store.TopicService(name)] {
					t.Errorf("%s after its last instance: %v at %d, want none at an index > %d", name, insts, idx, before[store.TopicService(name)])
				}
				entries, hidx := s.ServiceHealth(name, nil, nil, false)
				if len(entries) != 0 || hidx != 20 {
					t.Errorf("health of %s: %v at %d, want none at 20", name, entries, hidx)
				}
				if svcs, _ := s.Services(nil); svcs[name] != nil {
					t.Errorf("Services() still lists %s: %v", name, svcs)
				}
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestHealthIndexes: the health of an instance depends on its node and the
// node's checks, so a change to either moves the index of every service on
// that node, and only of those.
func TestHealthIndexes(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, s *store.Store)
		moved []string // service names at 20
	}{
		{"node-level check added", func(t *testing.T, s *store.Store) {
			register(t, s, 20, node("n1", "10.0.0.1"), nil, chk("maint", "", store.StatusMaintenance))
		}, []string{"web", "db"}},
		{"node-level check status change", func(t *testing.T, s *store.Store) {
			register(t, s, 20, node("n1", "10.0.0.1"), nil, chk("serfHealth", "", store.StatusCritical))
		}, []string{"web", "db"}},
		{"node address change", func(t *testing.T, s *store.Store) {
			register(t, s, 20, node("n1", "10.0.0.9"), nil)
		}, []string{"web", "db"}},
		{"service check status change", func(t *testing.T, s *store.Store) {
			register(t, s, 20, node("n1", "10.0.0.1"), nil, chk("w1", "web1", store.StatusCritical))
		}, []string{"web"}},
		{"check moved from node to service", func(t *testing.T, s *store.Store) {
			register(t, s, 20, node("n1", "10.0.0.1"), nil, chk("serfHealth", "db1", store.StatusPassing))
		}, []string{"web", "db"}},
		{"check moved from service to node", func(t *testing.T, s *store.Store) {
			register(t, s, 20, node("n1", "10.0.0.1"), nil, chk("w1", "", store.StatusPassing))
		}, []string{"web", "db"}},
		{"unchanged node-level check", func(t *testing.T, s *store.Store) {
			register(t, s, 20, node("n1", "10.0.0.1"), nil, chk("serfHealth", "", store.StatusPassing))
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web"), chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", store.StatusPassing))
			register(t, s, 6, node("n1", "10.0.0.1"), svc("db1", "db"))
			register(t, s, 7, node("n2", "10.0.0.2"), svc("api1", "api"), chk("serfHealth", "", store.StatusPassing))
			drain(s)

			tt.write(t, s)

			for name, before := range map[string]uint64{"web": 5, "db": 6, "api": 7} {
				want := before
				if slices.Contains(tt.moved, name) {
					want = 20
				}
				_, hidx := s.ServiceHealth(name, nil, nil, false)
				_, cidx := s.ServiceChecks(name, nil)
				if hidx != want || cidx != want {
					t.Errorf("%s: ServiceHealth index %d, ServiceChecks index %d; want %d", name, hidx, cidx, want)
				}
			}
		})
	}
}

func TestNodeMetaFilter(t *testing.T) {
	s := store.New()
	register(t, s, 5, node("n1", "10.0.0.1", "env", "prod", "rack", "a"), svc("web1", "web", "v1"), chk("c1", "web1", store.StatusPassing))
	register(t, s, 6, node("n2", "10.0.0.2", "env", "prod", "rack", "b"), svc("web2", "web", "v2"), chk("c2", "web2", store.StatusPassing))
	register(t, s, 7, node("n3", "10.0.0.3", "env", "dev"), svc("db1", "db"), chk("c3", "db1", store.StatusPassing))
	tests := []struct {
		name     string
		meta     store.NodeMetaFilter
		nodes    []string
		services []string // sorted names
		web      []string // nodes of web instances
		checks   []string
	}{
		{"none", nil, []string{"n1", "n2", "n3"}, []string{"db", "web"}, []string{"n1", "n2"}, []string{"c1", "c2", "c3"}},
		{"empty", store.NodeMetaFilter{}, []string{"n1", "n2", "n3"}, []string{"db", "web"}, []string{"n1", "n2"}, []string{"c1", "c2", "c3"}},
		{"env=prod", store.NodeMetaFilter{"env": "prod"}, []string{"n1", "n2"}, []string{"web"}, []string{"n1", "n2"}, []string{"c1", "c2"}},
		{"all pairs", store.NodeMetaFilter{"env": "prod", "rack": "b"}, []string{"n2"}, []string{"web"}, []string{"n2"}, []string{"c2"}},
		{"env=dev", store.NodeMetaFilter{"env": "dev"}, []string{"n3"}, []string{"db"}, nil, []string{"c3"}},
		{"missing key", store.NodeMetaFilter{"rack": "a", "zone": ""}, nil, nil, nil, nil},
		{"value case matters", store.NodeMetaFilter{"env": "PROD"}, nil, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nodes, services, web, checks []string
			ns, _ := s.Nodes(tt.meta)
			for _, n := range ns {
				nodes = append(nodes, n.Node)
			}
			svcs, _ := s.Services(tt.meta)
			services = slices.Sorted(maps.Keys(svcs))
			insts, _ := s.ServiceInstances("web", nil, tt.meta)
			for _, in := range insts {
				web = append(web, in.Node.Node)
			}
			entries, _ := s.ServiceHealth("web", nil, tt.meta, false)
			if len(entries) != len(insts) {
				t.Errorf("ServiceHealth lists %d instances, ServiceInstances %d", len(entries), len(insts))
			}
			cs, _ := s.ChecksInState("any", tt.meta)
			for _, c := range cs {
				checks = append(checks, c.CheckId)
			}
			scs, _ := s.ServiceChecks("web", tt.meta)
			if want := len(slices.DeleteFunc(slices.Clone(checks), func(id string) bool { return id == "c3" })); len(scs) != want {
				t.Errorf("ServiceChecks(web) = %d checks, want %d", len(scs), want)
			}
			if !slices.Equal(nodes, tt.nodes) || !slices.Equal(services, tt.services) || !slices.Equal(web, tt.web) || !slices.Equal(checks, tt.checks) {
				t.Errorf("nodes %q services %q web on %q checks %q\nwant %q %q %q %q",
					nodes, services, web, checks, tt.nodes, tt.services, tt.web, tt.checks)
			}
		})
	}
}

// TestTagFilter: an instance must have every tag asked for. Consul
// compares tags case-insensitively (serviceTagFilter in
// agent/consul/state/catalog.go lower-cases both sides).
func TestTagFilter(t *testing.T) {
	s := store.New()
	register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web", "v1", "Primary"))
	register(t, s, 6, node("n1", "10.0.0.1"), svc("web2", "web", "v1", "canary"))
	register(t, s, 7, node("n2", "10.0.0.2"), svc("web3", "web", "v2", "primary"))
	register(t, s, 8, node("n2", "10.0.0.2"), svc("web4", "web"))
	tests := []struct {
		tags []string
		want []string
	}{
		{nil, []string{"web1", "web2", "web3", "web4"}},
		{[]string{}, []string{"web1", "web2", "web3", "web4"}},
		{[]string{"v1"}, []string{"web1", "web2"}},
		{[]string{"v1", "primary"}, []string{"web1"}},
		{[]string{"primary", "v1"}, []string{"web1"}},
		{[]string{"PRIMARY"}, []string{"web1", "web3"}},
		{[]string{"V1", "Canary"}, []string{"web2"}},
		{[]string{"v1", "v2"}, nil},
		{[]string{"v"}, nil},
		{[]string{"nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.tags), func(t *testing.T) {
			var got, health []string
			insts, _ := s.ServiceInstances("web", tt.tags, nil)
			for _, in := range insts {
				got = append(got, in.Service.Id)
			}
			entries, _ := s.ServiceHealth("web", tt.tags, nil, false)
			for _, e := range entries {
				health = append(health, e.Service.Id)
			}
			if !slices.Equal(got, tt.want) || !slices.Equal(health, tt.want) {
				t.Errorf("ServiceInstances %q, ServiceHealth %q; want %q", got, health, tt.want)
			}
		})
	}
}

func TestServiceHealth(t *testing.T) {
	tests := []struct {
		name        string
		n1Checks    []*registryv1.Check // registered on n1 after web1
		passingOnly bool
		want        []string // instance IDs
		web1Checks  []string // IDs of the checks listed with web1
	}{
		{"all passing", nil, true, []string{"web1", "web2"}, []string{"serfHealth", "w1"}},
		{"node check critical", []*registryv1.Check{chk("serfHealth", "", store.StatusCritical)}, true, []string{"web2"}, nil},
		{"node check critical, not passingOnly", []*registryv1.Check{chk("serfHealth", "", store.StatusCritical)}, false, []string{"web1", "web2"}, []string{"serfHealth", "w1"}},
		{"node maintenance", []*registryv1.Check{chk("_node_maintenance", "", store.StatusMaintenance)}, true, []string{"web2"}, nil},
		{"service check warning", []*registryv1.Check{chk("w1", "web1", store.StatusWarning)}, true, []string{"web2"}, nil},
		{"new check defaults to critical", []*registryv1.Check{chk("w1b", "web1", "")}, true, []string{"web2"}, nil},
		{"another service's check failing", []*registryv1.Check{chk("d1", "db1", store.StatusCritical)}, true, []string{"web1", "web2"}, []string{"serfHealth", "w1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web"), chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", store.StatusPassing))
			register(t, s, 6, node("n1", "10.0.0.1"), svc("db1", "db"), chk("d1", "db1", store.StatusPassing))
			register(t, s, 7, node("n2", "10.0.0.2"), svc("web2", "web"), chk("serfHealth", "", store.StatusPassing))
			if len(tt.n1Checks) > 0 {
				register(t, s, 8, node("n1", "10.0.0.1"), nil, tt.n1Checks...)
			}
			entries, _ := s.ServiceHealth("web", nil, nil, tt.passingOnly)
			var got []string
			for _, e := range entries {
				got = append(got, e.Service.Id)
				if e.Node != s.Node(e.Node.Node) {
					t.Errorf("entry %s has node %v", e.Service.Id, e.Node)
				}
				if e.Service.Id != "web1" {
					continue
				}
				var ids []string
				for _, c := range e.Checks {
					ids = append(ids, c.CheckId)
				}
				if !slices.Equal(ids, tt.web1Checks) {
					t.Errorf("web1's checks %q, want %q (the node's and its own, not db1's)", ids, tt.web1Checks)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("instances %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChecksInState(t *testing.T) {
	s := store.New()
	register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web"),
		chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", store.StatusCritical), chk("w2", "web1", store.StatusWarning))
	register(t, s, 6, node("n2", "10.0.0.2"), svc("db1", "db"), chk("serfHealth", "", store.StatusCritical), chk("d1", "db1", ""))
	register(t, s, 7, node("n2", "10.0.0.2"), nil, chk("mem", "", store.StatusPassing))
	tests := []struct {
		state string
		want  []string
	}{
		{"any", []string{"n1/serfHealth", "n1/w1", "n1/w2", "n2/d1", "n2/mem", "n2/serfHealth"}},
		{store.StatusPassing, []string{"n1/serfHealth", "n2/mem"}},
		{store.StatusCritical, []string{"n1/w1", "n2/d1", "n2/serfHealth"}},
		{store.StatusWarning, []string{"n1/w2"}},
		{store.StatusMaintenance, nil},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			cs, idx := s.ChecksInState(tt.state, nil)
			var got []string
			for _, c := range cs {
				got = append(got, c.Node+"/"+c.CheckId)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("checks %q, want %q", got, tt.want)
			}
			if idx != 7 {
				t.Errorf("index %d, want 7 (the checks table's)", idx)
			}
		})
	}
}

func TestServices(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, s *store.Store)
		want  map[string][]string
		index uint64
	}{
		{"empty catalog", func(*testing.T, *store.Store) {}, map[string][]string{}, 0},
		{"union of tags, sorted, without duplicates", func(t *testing.T, s *store.Store) {
			register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web", "v2", "primary"))
			register(t, s, 6, node("n2", "10.0.0.2"), svc("web2", "web", "v1", "primary", "canary"))
			register(t, s, 7, node("n2", "10.0.0.2"), svc("db1", "db", "pg"))
		}, map[string][]string{"web": {"canary", "primary", "v1", "v2"}, "db": {"pg"}}, 7},
		{"no tags is an empty list", func(t *testing.T, s *store.Store) {
			register(t, s, 5, node("n1", "10.0.0.1"), svc("consul", "consul"))
			register(t, s, 6, node("n1", "10.0.0.1"), svc("web1", "web", "v1"))
		}, map[string][]string{"consul": {}, "web": {"v1"}}, 6},
		{"deregistered service gone, index moves", func(t *testing.T, s *store.Store) {
			register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web", "v1"))
			register(t, s, 6, node("n1", "10.0.0.1"), svc("db1", "db"))
			s.Deregister(9, "n1", "db1", "")
		}, map[string][]string{"web": {"v1"}}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			tt.setup(t, s)
			got, idx := s.Services(nil)
			if got == nil {
				t.Errorf("Services() = nil map, want an empty one")
			}
			if !maps.EqualFunc(got, tt.want, slices.Equal) || idx != tt.index {
				t.Errorf("Services() = %q at %d, want %q at %d", got, idx, tt.want, tt.index)
			}
			for name, tags := range got {
				// Consul answers "consul": [], never null.
				if tags == nil {
					t.Errorf("tags of %s = nil, want an empty list", name)
				}
			}
		})
	}
}

func TestTakeEventsAndTouched(t *testing.T) {
	s := store.New()
	n1 := node("n1", "10.0.0.1")
	register(t, s, 5, n1, svc("web1", "web", "v1"), chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", ""))

	events := takeEvents(s)
	var got []string
	for _, ev := range events {
		got = append(got, fmt.Sprintf("%s %s@%d on %s", ev.Type, describe(ev), ev.Index, ev.NodeName))
	}
	want := []string{
		"TYPE_PUT node n1@5 on n1",
		"TYPE_PUT service n1/web1@5 on n1",
		"TYPE_PUT check n1/serfHealth@5 on n1",
		"TYPE_PUT check n1/w1@5 on n1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %q\nwant %q", got, want)
	}
	// The events carry the stored records.
	cs, _ := s.NodeChecks("n1")
	if len(events) == 4 && (events[0].GetNode() != s.Node("n1") || events[3].GetCheck() != cs[1]) {
		t.Errorf("events do not carry the stored records")
	}
	touched := s.TakeTouched()
	wantTouched := []string{store.TopicNodes, store.TopicNode("n1"), store.TopicServices, store.TopicService("web"), store.TopicChecks}
	if len(touched) != len(wantTouched) || !sameSet(touched, wantTouched) {
		t.Errorf("touched %q, want each of %q once", touched, wantTouched)
	}
	if ev, tp := takeEvents(s), s.TakeTouched(); ev != nil || tp != nil {
		t.Errorf("second take: events %v touched %q, want nothing", ev, tp)
	}

	// A service's new tags reach its check: the check's PUT follows the
	// service's.
	register(t, s, 6, n1, svc("web1", "web", "v2"))
	got = nil
	for _, ev := range takeEvents(s) {
		got = append(got, fmt.Sprintf("%s %s@%d", ev.Type, describe(ev), ev.Index))
	}
	if want := []string{"TYPE_PUT service n1/web1@6", "TYPE_PUT check n1/w1@6"}; !slices.Equal(got, want) {
		t.Errorf("events after new tags %q, want %q", got, want)
	}
	if c := must(s.NodeChecks("n1"))[1]; !slices.Equal(c.ServiceTags, []string{"v2"}) || c.ModifyIndex != 6 || c.CreateIndex != 5 {
		t.Errorf("check after new tags: %v", c)
	}
	wantTouched = []string{store.TopicServices, store.TopicService("web"), store.TopicNode("n1"), store.TopicChecks}
	if touched := s.TakeTouched(); !sameSet(touched, wantTouched) {
		t.Errorf("touched %q, want %q", touched, wantTouched)
	}

	// Deletions carry only the identifying fields.
	s.Deregister(7, "n1", "web1", "")
	events = takeEvents(s)
	wantEvents := []*registryv1.CatalogEvent{
		{Type: registryv1.CatalogEvent_TYPE_DELETE, NodeName: "n1", Index: 7,
			Record: &registryv1.CatalogEvent_Check{Check: &registryv1.Check{Node: "n1", CheckId: "w1"}}},
		{Type: registryv1.CatalogEvent_TYPE_DELETE, NodeName: "n1", Index: 7,
			Record: &registryv1.CatalogEvent_Service{Service: &registryv1.Service{Id: "web1", Service: "web"}}},
	}
	if !equalMsgs(events, wantEvents) {
		t.Errorf("events %v\nwant %v", events, wantEvents)
	}
	s.Deregister(8, "n1", "", "")
	events = takeEvents(s)
	wantEvents = []*registryv1.CatalogEvent{
		{Type: registryv1.CatalogEvent_TYPE_DELETE, NodeName: "n1", Index: 8,
			Record: &registryv1.CatalogEvent_Check{Check: &registryv1.Check{Node: "n1", CheckId: "serfHealth"}}},
		{Type: registryv1.CatalogEvent_TYPE_DELETE, NodeName: "n1", Index: 8,
			Record: &registryv1.CatalogEvent_Node{Node: &registryv1.Node{Node: "n1"}}},
	}
	if !equalMsgs(events, wantEvents) {
		t.Errorf("events %v\nwant %v", events, wantEvents)
	}
}

func TestClone(t *testing.T) {
	s := store.New()
	register(t, s, 5, node("n1", "10.0.0.1"), svc("web1", "web"), chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", store.StatusPassing))
	register(t, s, 6, node("n2", "10.0.0.2"), svc("db1", "db"))
	drain(s)
	before := catalogOf(s)

	c := s.Clone()
	if d := before.diff(catalogOf(c)); d != "" {
		t.Fatalf("clone differs:\n%s", d)
	}
	if ev, tp := takeEvents(c), c.TakeTouched(); len(ev) != 0 || len(tp) != 0 {
		t.Errorf("clone has events %v touched %q", ev, tp)
	}

	writes := []struct {
		name  string
		write func(t *testing.T, s *store.Store)
	}{
		{"new node", func(t *testing.T, s *store.Store) { register(t, s, 10, node("n3", "10.0.0.3"), nil) }},
		{"changed node", func(t *testing.T, s *store.Store) { register(t, s, 10, node("n1", "10.9.9.9"), nil) }},
		{"new service on a node", func(t *testing.T, s *store.Store) { register(t, s, 10, node("n1", "10.0.0.1"), svc("api1", "api")) }},
		{"new check on a node", func(t *testing.T, s *store.Store) {
			register(t, s, 10, node("n2", "10.0.0.2"), nil, chk("serfHealth", "", store.StatusCritical))
		}},
		{"deregister service", func(t *testing.T, s *store.Store) { s.Deregister(10, "n1", "web1", "") }},
		{"deregister check", func(t *testing.T, s *store.Store) { s.Deregister(10, "n1", "", "serfHealth") }},
		{"deregister node", func(t *testing.T, s *store.Store) { s.Deregister(10, "n1", "", "") }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			orig := store.New()
			register(t, orig, 5, node("n1", "10.0.0.1"), svc("web1", "web"), chk("serfHealth", "", store.StatusPassing), chk("w1", "web1", store.StatusPassing))
			register(t, orig, 6, node("n2", "10.0.0.2"), svc("db1", "db"))
			drain(orig)
			snap := catalogOf(orig)

			// A write to the clone leaves the original alone...
			clone := orig.Clone()
			w.write(t, clone)
			if d := snap.diff(catalogOf(orig)); d != "" {
				t.Errorf("writing the clone changed the original:\n%s", d)
			}
			if d := snap.diff(catalogOf(clone)); d == "" {
				t.Errorf("the write did not change the clone")
			}
			// ... and a write to the original leaves the clone alone.
			clone = orig.Clone()
			w.write(t, orig)
			if d := snap.diff(catalogOf(clone)); d != "" {
				t.Errorf("writing the original changed the clone:\n%s", d)
			}
		})
	}
}

// TestServiceNameIndex checks the index of instances by service name
// through a rename, a removal and a snapshot round trip.
func TestServiceNameIndex(t *testing.T) {
	s := store.New()
	n1 := &registryv1.Node{Node: "n1", Address: "10.0.0.1"}
	if err := s.Register(1, n1, &registryv1.Service{Id: "a", Service: "web"}, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(2, n1, &registryv1.Service{Id: "b", Service: "web"}, nil, false); err != nil {
		t.Fatal(err)
	}
	// Rename instance a to api.
	if err := s.Register(3, n1, &registryv1.Service{Id: "a", Service: "api"}, nil, false); err != nil {
		t.Fatal(err)
	}
	count := func(st *store.Store, name string) int {
		in, _ := st.ServiceInstances(name, nil, nil)
		return len(in)
	}
	if count(s, "web") != 1 || count(s, "api") != 1 {
		t.Fatalf("after the rename: web %d, api %d; want 1 and 1", count(s, "web"), count(s, "api"))
	}
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	restored, err := store.ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if count(restored, "web") != 1 || count(restored, "api") != 1 {
		t.Fatalf("after a snapshot round trip: web %d, api %d", count(restored, "web"), count(restored, "api"))
	}
	s.Deregister(4, "n1", "b", "")
	if count(s, "web") != 0 {
		t.Fatal("a removed instance is still listed")
	}
	c := s.Clone()
	s.Deregister(5, "n1", "", "")
	if count(c, "api") != 1 || count(s, "api") != 0 {
		t.Fatalf("clone: api %d (want 1), original %d (want 0)", count(c, "api"), count(s, "api"))
	}
}

// takeEvents is s.TakeEvents as the messages watchers receive, or nil.
func takeEvents(s *store.Store) []*registryv1.CatalogEvent {
	var out []*registryv1.CatalogEvent
	for _, e := range s.TakeEvents() {
		out = append(out, e.Proto())
	}
	return out
}
