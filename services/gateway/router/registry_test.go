package router

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// fakeClient answers the registry calls from fixed data and records the
// requests it gets. Calls it does not implement panic (nil interface).
type fakeClient struct {
	registryv1.RegistryServiceClient

	nodes     []*registryv1.Node
	instances map[string][]*registryv1.ServiceInstance
	entries   []*registryv1.ServiceHealthEntry
	checks    []*registryv1.Check
	calls     []proto.Message
}

var meta = &queryv1.QueryMeta{Index: 7, KnownLeader: true}

func (f *fakeClient) ListNodes(_ context.Context, req *registryv1.ListNodesRequest, _ ...grpc.CallOption) (*registryv1.ListNodesResponse, error) {
	f.calls = append(f.calls, req)
	return &registryv1.ListNodesResponse{Nodes: f.nodes, Meta: meta}, nil
}

func (f *fakeClient) ListServices(_ context.Context, req *registryv1.ListServicesRequest, _ ...grpc.CallOption) (*registryv1.ListServicesResponse, error) {
	f.calls = append(f.calls, req)
	out := map[string]*registryv1.ServiceTags{}
	for name, is := range f.instances {
		var tags []string
		for _, i := range is {
			tags = append(tags, i.GetService().GetTags()...)
		}
		slices.Sort(tags)
		out[name] = &registryv1.ServiceTags{Tags: slices.Compact(tags)}
	}
	return &registryv1.ListServicesResponse{Services: out, Meta: meta}, nil
}

func (f *fakeClient) ServiceNodes(_ context.Context, req *registryv1.ServiceNodesRequest, _ ...grpc.CallOption) (*registryv1.ServiceNodesResponse, error) {
	f.calls = append(f.calls, req)
	return &registryv1.ServiceNodesResponse{Instances: f.instances[req.GetService()], Meta: meta}, nil
}

func (f *fakeClient) ServiceHealth(_ context.Context, req *registryv1.ServiceHealthRequest, _ ...grpc.CallOption) (*registryv1.ServiceHealthResponse, error) {
	f.calls = append(f.calls, req)
	return &registryv1.ServiceHealthResponse{Entries: f.entries, Meta: meta}, nil
}

func (f *fakeClient) ChecksInState(_ context.Context, req *registryv1.ChecksInStateRequest, _ ...grpc.CallOption) (*registryv1.ChecksInStateResponse, error) {
	f.calls = append(f.calls, req)
	return &registryv1.ChecksInStateResponse{Checks: f.checks, Meta: meta}, nil
}

func (f *fakeClient) Register(_ context.Context, req *registryv1.RegisterRequest, _ ...grpc.CallOption) (*registryv1.RegisterResponse, error) {
	f.calls = append(f.calls, req)
	return &registryv1.RegisterResponse{Index: 8}, nil
}

func fixture() *fakeClient {
	n1 := &registryv1.Node{Node: "n1", Address: "10.0.0.1", Meta: map[string]string{"env": "prod"}}
	n2 := &registryv1.Node{Node: "n2", Address: "10.0.0.2", Meta: map[string]string{"env": "dev"}}
	web1 := &registryv1.Service{Id: "web1", Service: "web", Tags: []string{"v1", "primary"}, Meta: map[string]string{"version": "1"}}
	web2 := &registryv1.Service{Id: "web2", Service: "web", Tags: []string{"v2"}, Meta: map[string]string{"version": "2"}}
	db := &registryv1.Service{Id: "db", Service: "db"}
	pass := &registryv1.Check{Node: "n1", CheckId: "c1", Status: "passing", ServiceId: "web1"}
	crit := &registryv1.Check{Node: "n2", CheckId: "c2", Status: "critical", ServiceId: "web2"}
	return &fakeClient{
		nodes: []*registryv1.Node{n1, n2},
		instances: map[string][]*registryv1.ServiceInstance{
			"web": {{Node: n1, Service: web1}, {Node: n2, Service: web2}},
			"db":  {{Node: n2, Service: db}},
		},
		entries: []*registryv1.ServiceHealthEntry{
			{Node: n1, Service: web1, Checks: []*registryv1.Check{pass}},
			{Node: n2, Service: web2, Checks: []*registryv1.Check{crit}},
		},
		checks: []*registryv1.Check{pass, crit},
	}
}

func newRegistry(c registryv1.RegistryServiceClient) *Registry {
	return &Registry{datacenter: "dc1", client: c}
}

func TestRegistryFilters(t *testing.T) {
	ctx := context.Background()
	g := newRegistry(fixture())

	nodes, err := g.ListNodes(ctx, &registryv1.ListNodesRequest{Filter: `Meta.env == prod`})
	if err != nil || len(nodes.Nodes) != 1 || nodes.Nodes[0].Node != "n1" || nodes.Meta.GetIndex() != 7 {
		t.Errorf("ListNodes: %v %v", nodes, err)
	}
	inst, err := g.ServiceNodes(ctx, &registryv1.ServiceNodesRequest{Service: "web", Filter: `ServiceMeta.version == "2"`})
	if err != nil || len(inst.Instances) != 1 || inst.Instances[0].Service.Id != "web2" {
		t.Errorf("ServiceNodes: %v %v", inst, err)
	}
	entries, err := g.ServiceHealth(ctx, &registryv1.ServiceHealthRequest{Service: "web", Filter: `Checks.Status == critical`})
	if err != nil || len(entries.Entries) != 1 || entries.Entries[0].Service.Id != "web2" {
		t.Errorf("ServiceHealth: %v %v", entries, err)
	}
	entries, err = g.ServiceHealth(ctx, &registryv1.ServiceHealthRequest{Service: "web", Filter: `Service.Tags contains primary and Node.Meta.env == prod`})
	if err != nil || len(entries.Entries) != 1 || entries.Entries[0].Service.Id != "web1" {
		t.Errorf("ServiceHealth: %v %v", entries, err)
	}
	checks, err := g.ChecksInState(ctx, &registryv1.ChecksInStateRequest{State: "any", Filter: `Status != critical`})
	if err != nil || len(checks.Checks) != 1 || checks.Checks[0].CheckId != "c1" {
		t.Errorf("ChecksInState: %v %v", checks, err)
	}
	// Without a filter the response is the registry's.
	all, err := g.ServiceNodes(ctx, &registryv1.ServiceNodesRequest{Service: "web"})
	if err != nil || len(all.Instances) != 2 {
		t.Errorf("ServiceNodes without a filter: %v %v", all, err)
	}
}

func TestRegistryListServicesFilter(t *testing.T) {
	ctx := context.Background()
	f := fixture()
	g := newRegistry(f)

	// Consul filters the instances and lists the services left with the
	// tags of the instances left.
	resp, err := g.ListServices(ctx, &registryv1.ListServicesRequest{
		Filter:  `NodeMeta.env == prod or ServiceName == db`,
		Options: &queryv1.QueryOptions{MinIndex: 5, Consistency: queryv1.Consistency_CONSISTENCY_STALE},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name, tags := range resp.Services {
		got[name] = strings.Join(tags.GetTags(), ",")
	}
	if len(got) != 2 || got["web"] != "primary,v1" || got["db"] != "" {
		t.Errorf("services: %v", got)
	}
	if resp.Meta.GetIndex() != 7 {
		t.Errorf("meta: %v", resp.Meta)
	}
	// The instance reads do not block again and keep the consistency.
	for _, c := range f.calls[1:] {
		r := c.(*registryv1.ServiceNodesRequest)
		if r.GetOptions().GetMinIndex() != 0 || r.GetOptions().GetConsistency() != queryv1.Consistency_CONSISTENCY_STALE {
			t.Errorf("instance read %v", r)
		}
	}

	resp, err = g.ListServices(ctx, &registryv1.ListServicesRequest{Filter: `ServiceName == none`})
	if err != nil || resp.Services == nil || len(resp.Services) != 0 {
		t.Errorf("nothing left: %v %v", resp, err)
	}
}

func TestRegistryErrors(t *testing.T) {
	ctx := context.Background()
	g := newRegistry(fixture())
	tests := []struct {
		name    string
		call    func() error
		code    codes.Code
		message string
	}{
		{"bad filter syntax", func() error {
			_, err := g.ListNodes(ctx, &registryv1.ListNodesRequest{Filter: `Node ==`})
			return err
		}, codes.InvalidArgument, "Failed to create boolean expression evaluator"},
		{"bad selector", func() error {
			_, err := g.ServiceHealth(ctx, &registryv1.ServiceHealthRequest{Filter: `Service.Nope == 1`})
			return err
		}, codes.InvalidArgument, `Selector "Service.Nope" is not valid`},
		{"bad state", func() error {
			_, err := g.ChecksInState(ctx, &registryv1.ChecksInStateRequest{State: "bogus"})
			return err
		}, codes.InvalidArgument, `Invalid check state "bogus"`},
		{"another datacenter", func() error {
			_, err := g.ListNodes(ctx, &registryv1.ListNodesRequest{Options: &queryv1.QueryOptions{Datacenter: "dc2"}})
			return err
		}, codes.Unavailable, "No path to datacenter"},
		{"write to another datacenter", func() error {
			_, err := g.Register(ctx, &registryv1.RegisterRequest{Options: &queryv1.WriteOptions{Datacenter: "dc2"}})
			return err
		}, codes.Unavailable, "No path to datacenter"},
		{"no registry", func() error {
			_, err := newRegistry(nil).ServiceNodes(ctx, &registryv1.ServiceNodesRequest{Service: "web"})
			return err
		}, codes.Unavailable, "No known Consul servers"},
		{"no registry, write", func() error {
			_, err := newRegistry(nil).Deregister(ctx, &registryv1.DeregisterRequest{Node: "n1"})
			return err
		}, codes.Unavailable, "No known Consul servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := status.Convert(tt.call())
			if s.Code() != tt.code || !strings.Contains(s.Message(), tt.message) {
				t.Errorf("got %v %q, want %v %q", s.Code(), s.Message(), tt.code, tt.message)
			}
		})
	}
}

func TestRegistryDatacentersAndRegister(t *testing.T) {
	ctx := context.Background()
	// Answered without a registry.
	dcs, err := newRegistry(nil).ListDatacenters(ctx, &registryv1.ListDatacentersRequest{})
	if err != nil || !slices.Equal(dcs.Datacenters, []string{"dc1"}) {
		t.Errorf("datacenters: %v %v", dcs, err)
	}
	f := fixture()
	resp, err := newRegistry(f).Register(ctx, &registryv1.RegisterRequest{Node: &registryv1.Node{Node: "n"},
		Options: &queryv1.WriteOptions{Datacenter: "dc1"}})
	if err != nil || resp.Index != 8 || len(f.calls) != 1 {
		t.Errorf("register: %v %v %v", resp, err, f.calls)
	}
}

func TestNewWithRegistry(t *testing.T) {
	conn, err := grpc.NewClient("passthrough:///unused", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r, err := New("dc1", conn)
	if err != nil || r.Registry() == nil || r.Registry().client != nil {
		t.Fatalf("New without a registry: %v %v", r, err)
	}
	r, err = New("dc1", conn, WithRegistry(conn))
	if err != nil || r.Registry().client == nil {
		t.Fatalf("New with a registry: %v %v", r, err)
	}
	g := grpc.NewServer()
	r.AddTo(g) // KV, status and registry: no duplicate method panics
	if _, ok := g.GetServiceInfo()["tribune.registry.v1.RegistryService"]; !ok {
		t.Errorf("registry service not registered: %v", g.GetServiceInfo())
	}
}
