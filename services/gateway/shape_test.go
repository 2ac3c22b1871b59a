package gateway_test

// HTTP shape tests: the router's /v1/catalog and /v1/health handlers served
// over httptest, in front of a small in-memory fake of the registry service
// (over an in-process gRPC connection). They check status codes, headers
// and JSON shapes only; the registry's own behaviour is tested end to end
// against the real registry in cmd/tribune.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/batch"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	regbatchv1 "github.com/tribune/tribune/sdk/go/tribune/registry/batch/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/gateway/httpapi"
	"github.com/tribune/tribune/services/gateway/router"
)

// fakeRegistry is an in-memory catalog, just enough to give the HTTP layer
// data to shape. It does not filter (?filter is the router's).
type fakeRegistry struct {
	registryv1.UnimplementedRegistryServiceServer
	regbatchv1.UnimplementedBatchServiceServer

	mu       sync.Mutex
	index    uint64
	nodes    map[string]*registryv1.Node
	services map[string][]*registryv1.Service // by node
	checks   map[string][]*registryv1.Check   // by node
	writes   []string                         // datacenter of each write
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{index: 1, nodes: map[string]*registryv1.Node{},
		services: map[string][]*registryv1.Service{}, checks: map[string][]*registryv1.Check{}}
}

func (f *fakeRegistry) meta(o *queryv1.QueryOptions) *queryv1.QueryMeta {
	return &queryv1.QueryMeta{Index: f.index, KnownLeader: true, Consistency: o.GetConsistency()}
}

func (f *fakeRegistry) Register(_ context.Context, req *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	f.writes = append(f.writes, req.GetOptions().GetDatacenter())
	name := req.GetNode().GetNode()
	if _, ok := f.nodes[name]; !ok || !req.GetSkipNodeUpdate() {
		n := *req.GetNode()
		n.CreateIndex, n.ModifyIndex = f.index, f.index
		f.nodes[name] = &n
	}
	if s := req.GetService(); s != nil {
		if s.Id == "" {
			s.Id = s.Service
		}
		s.CreateIndex, s.ModifyIndex = f.index, f.index
		f.services[name] = append(slices.DeleteFunc(f.services[name], func(o *registryv1.Service) bool { return o.Id == s.Id }), s)
	}
	for _, c := range req.GetChecks() {
		if c.CheckId == "" {
			c.CheckId = c.Name
		}
		c.Node = name
		for _, s := range f.services[name] {
			if s.Id == c.ServiceId {
				c.ServiceName, c.ServiceTags = s.Service, s.Tags
			}
		}
		f.checks[name] = append(slices.DeleteFunc(f.checks[name], func(o *registryv1.Check) bool { return o.CheckId == c.CheckId }), c)
	}
	return &registryv1.RegisterResponse{Index: f.index}, nil
}

// Write serves the gateway's batches of catalog writes with Register and
// Deregister.
func (f *fakeRegistry) Write(ctx context.Context, req *regbatchv1.WriteRequest) (*regbatchv1.WriteResponse, error) {
	resp := &regbatchv1.WriteResponse{}
	for _, op := range req.Ops {
		res := &regbatchv1.Result{}
		if r := op.GetRegister(); r != nil {
			out, err := f.Register(ctx, r)
			res.Result = &regbatchv1.Result_Register{Register: out}
			if err != nil {
				res.Result = &regbatchv1.Result_Error{Error: batch.WriteError(err)}
			}
		} else {
			out, err := f.Deregister(ctx, op.GetDeregister())
			res.Result = &regbatchv1.Result_Deregister{Deregister: out}
			if err != nil {
				res.Result = &regbatchv1.Result_Error{Error: batch.WriteError(err)}
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func (f *fakeRegistry) Deregister(_ context.Context, req *registryv1.DeregisterRequest) (*registryv1.DeregisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	f.writes = append(f.writes, req.GetOptions().GetDatacenter())
	switch {
	case req.ServiceId != "":
		f.services[req.Node] = slices.DeleteFunc(f.services[req.Node], func(s *registryv1.Service) bool { return s.Id == req.ServiceId })
	case req.CheckId != "":
		f.checks[req.Node] = slices.DeleteFunc(f.checks[req.Node], func(c *registryv1.Check) bool { return c.CheckId == req.CheckId })
	default:
		delete(f.nodes, req.Node)
		delete(f.services, req.Node)
		delete(f.checks, req.Node)
	}
	return &registryv1.DeregisterResponse{Index: f.index}, nil
}

func (f *fakeRegistry) nodeNames() []string {
	var names []string
	for n := range f.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (f *fakeRegistry) ListNodes(_ context.Context, req *registryv1.ListNodesRequest) (*registryv1.ListNodesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &registryv1.ListNodesResponse{Meta: f.meta(req.GetOptions())}
	for _, n := range f.nodeNames() {
		resp.Nodes = append(resp.Nodes, f.nodes[n])
	}
	return resp, nil
}

func (f *fakeRegistry) ListServices(_ context.Context, req *registryv1.ListServicesRequest) (*registryv1.ListServicesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*registryv1.ServiceTags{}
	for _, ss := range f.services {
		for _, s := range ss {
			t := out[s.Service]
			if t == nil {
				t = &registryv1.ServiceTags{}
				out[s.Service] = t
			}
			t.Tags = append(t.Tags, s.Tags...)
			slices.Sort(t.Tags)
			t.Tags = slices.Compact(t.Tags)
		}
	}
	return &registryv1.ListServicesResponse{Services: out, Meta: f.meta(req.GetOptions())}, nil
}

func (f *fakeRegistry) instances(service string, tags []string) []*registryv1.ServiceInstance {
	var out []*registryv1.ServiceInstance
	for _, n := range f.nodeNames() {
		for _, s := range f.services[n] {
			if s.Service == service && !slices.ContainsFunc(tags, func(t string) bool { return !slices.Contains(s.Tags, t) }) {
				out = append(out, &registryv1.ServiceInstance{Node: f.nodes[n], Service: s})
			}
		}
	}
	return out
}

func (f *fakeRegistry) ServiceNodes(_ context.Context, req *registryv1.ServiceNodesRequest) (*registryv1.ServiceNodesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &registryv1.ServiceNodesResponse{Instances: f.instances(req.Service, req.Tags), Meta: f.meta(req.GetOptions())}, nil
}

func (f *fakeRegistry) NodeServices(_ context.Context, req *registryv1.NodeServicesRequest) (*registryv1.NodeServicesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &registryv1.NodeServicesResponse{Node: f.nodes[req.Node], Services: f.services[req.Node], Meta: f.meta(req.GetOptions())}, nil
}

func (f *fakeRegistry) NodeChecks(_ context.Context, req *registryv1.NodeChecksRequest) (*registryv1.NodeChecksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &registryv1.NodeChecksResponse{Checks: f.checks[req.Node], Meta: f.meta(req.GetOptions())}, nil
}

func (f *fakeRegistry) allChecks(keep func(*registryv1.Check) bool) []*registryv1.Check {
	var out []*registryv1.Check
	for _, n := range f.nodeNames() {
		for _, c := range f.checks[n] {
			if keep(c) {
				out = append(out, c)
			}
		}
	}
	return out
}

func (f *fakeRegistry) ServiceChecks(_ context.Context, req *registryv1.ServiceChecksRequest) (*registryv1.ServiceChecksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &registryv1.ServiceChecksResponse{
		Checks: f.allChecks(func(c *registryv1.Check) bool { return c.ServiceName == req.Service }),
		Meta:   f.meta(req.GetOptions()),
	}, nil
}

func (f *fakeRegistry) ChecksInState(_ context.Context, req *registryv1.ChecksInStateRequest) (*registryv1.ChecksInStateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &registryv1.ChecksInStateResponse{
		Checks: f.allChecks(func(c *registryv1.Check) bool { return req.State == "any" || c.Status == req.State }),
		Meta:   f.meta(req.GetOptions()),
	}, nil
}

func (f *fakeRegistry) ServiceHealth(_ context.Context, req *registryv1.ServiceHealthRequest) (*registryv1.ServiceHealthResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &registryv1.ServiceHealthResponse{Meta: f.meta(req.GetOptions())}
	for _, i := range f.instances(req.Service, req.Tags) {
		e := &registryv1.ServiceHealthEntry{Node: i.Node, Service: i.Service}
		passing := true
		for _, c := range f.checks[i.Node.Node] {
			if c.ServiceId == "" || c.ServiceId == i.Service.Id {
				e.Checks = append(e.Checks, c)
				passing = passing && c.Status == "passing"
			}
		}
		if passing || !req.PassingOnly {
			resp.Entries = append(resp.Entries, e)
		}
	}
	return resp, nil
}

// shapeServer serves the /v1 API in front of fake; nil fake configures no
// registry.
func shapeServer(t *testing.T, fake *fakeRegistry) *httptest.Server {
	t.Helper()
	conn := serveInMemory(t, func(gs *grpc.Server) {
		if fake != nil {
			registryv1.RegisterRegistryServiceServer(gs, fake)
			regbatchv1.RegisterBatchServiceServer(gs, fake)
		}
	})
	var opts []router.Option
	if fake != nil {
		opts = append(opts, router.WithRegistry(conn))
	}
	rt, err := router.New("dc1", conn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(context.Background(), httpapi.Config{MaxValueSize: 1 << 10},
		httpapi.Services{KV: rt, Status: rt, Registry: rt.Registry(), Agent: rt.Agent()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	code   int
	header http.Header
	body   string
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

const registration = `{"Node":"n1","Address":"10.0.0.1","NodeMeta":{"env":"prod"},
	"Service":{"ID":"web1","Service":"web","Tags":["v1","primary"],"Port":80,"Meta":{"version":"1"}},
	"Check":{"CheckID":"web1-alive","Name":"alive","Status":"passing","ServiceID":"web1",
		"Definition":{"HTTP":"http://10.0.0.1/health","Interval":"10s","Timeout":5000000000}}}`

func TestHTTPShapeCatalogWrites(t *testing.T) {
	fake := newFakeRegistry()
	srv := shapeServer(t, fake)

	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string // the body, or its prefix for errors
	}{
		{"register", "PUT", "/v1/catalog/register", registration, 200, "true"},
		{"register in the body's datacenter", "PUT", "/v1/catalog/register?dc=dc2", `{"Node":"n9","Address":"a","Datacenter":"dc1"}`, 200, "true"},
		{"register in ?dc", "PUT", "/v1/catalog/register?dc=dc1", `{"Node":"n8","Address":"a"}`, 200, "true"},
		{"register in another datacenter", "PUT", "/v1/catalog/register?dc=dc2", `{"Node":"n2","Address":"a"}`, 500, "No path to datacenter"},
		{"malformed JSON", "PUT", "/v1/catalog/register", `{"Node":`, 400, "Request decode failed: unexpected end of JSON input"},
		{"empty body", "PUT", "/v1/catalog/register", ``, 400, "Request decode failed: EOF"},
		{"bad duration", "PUT", "/v1/catalog/register", `{"Node":"n","Check":{"Definition":{"Interval":"often"}}}`, 400, `Request decode failed: invalid duration "often"`},
		{"deregister a check", "PUT", "/v1/catalog/deregister", `{"Node":"n9","CheckID":"x"}`, 200, "true"},
		{"deregister malformed", "PUT", "/v1/catalog/deregister", `{"Node":1}`, 400, "Request decode failed:"},
		{"register with GET", "GET", "/v1/catalog/register", ``, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, srv, tt.method, tt.path, tt.body)
			if r.code != tt.code || !strings.HasPrefix(r.body, tt.want) {
				t.Fatalf("%s %s: %d %q, want %d %q", tt.method, tt.path, r.code, r.body, tt.code, tt.want)
			}
			if tt.code == 200 && r.body != "true" {
				t.Errorf("body %q, want a bare true", r.body)
			}
			if tt.code != 200 && !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
				t.Errorf("error Content-Type %q, want text/plain", r.header.Get("Content-Type"))
			}
		})
	}
	// Empty is the local datacenter; the refused write never reached it.
	if !slices.Equal(fake.writes, []string{"", "dc1", "dc1", ""}) {
		t.Errorf("datacenters of the writes: %q", fake.writes)
	}
}

func TestHTTPShapeCatalogReads(t *testing.T) {
	fake := newFakeRegistry()
	srv := shapeServer(t, fake)
	if r := call(t, srv, "PUT", "/v1/catalog/register", registration); r.code != 200 {
		t.Fatalf("register: %+v", r)
	}
	if r := call(t, srv, "PUT", "/v1/catalog/register", `{"Node":"n2","Address":"10.0.0.2","Service":{"Service":"db","Port":5432}}`); r.code != 200 {
		t.Fatalf("register: %+v", r)
	}

	exact := []struct {
		path, want string
	}{
		{"/v1/catalog/datacenters", `["dc1"]`},
		{"/v1/catalog/services", `{"db":[],"web":["primary","v1"]}`},
		{"/v1/catalog/services?filter=" + url.QueryEscape(`ServiceTags contains primary`), `{"web":["primary","v1"]}`},
		{"/v1/catalog/services?filter=" + url.QueryEscape(`NodeMeta.env == none`), `{}`},
		{"/v1/catalog/service/nope", `[]`},
		{"/v1/catalog/service/web?tag=v2", `[]`},
		{"/v1/catalog/node/nope", `null`},
		{"/v1/health/service/nope", `[]`},
		{"/v1/health/node/nope", `[]`},
		{"/v1/health/checks/nope", `[]`},
		{"/v1/health/state/warning", `[]`},
		{"/v1/catalog/nodes?filter=" + url.QueryEscape(`Node == nope`), `[]`},
		{"/v1/catalog/service/db", `[{"ID":"","Node":"n2","Address":"10.0.0.2","Datacenter":"","TaggedAddresses":{},` +
			`"NodeMeta":{},"ServiceKind":"","ServiceID":"db","ServiceName":"db","ServiceTags":[],"ServiceAddress":"",` +
			`"ServiceWeights":{"Passing":1,"Warning":1},"ServiceMeta":{},"ServicePort":5432,"ServiceEnableTagOverride":false,` +
			`"CreateIndex":3,"ModifyIndex":3}]`},
		{"/v1/catalog/node/n2", `{"Node":{"ID":"","Node":"n2","Address":"10.0.0.2","Datacenter":"","TaggedAddresses":{},"Meta":{},` +
			`"CreateIndex":3,"ModifyIndex":3},"Services":{"db":{"ID":"db","Service":"db","Tags":[],"Meta":{},"Port":5432,"Address":"",` +
			`"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"CreateIndex":3,"ModifyIndex":3}}}`},
		{"/v1/health/service/db", `[{"Node":{"ID":"","Node":"n2","Address":"10.0.0.2","Datacenter":"","TaggedAddresses":{},"Meta":{},` +
			`"CreateIndex":3,"ModifyIndex":3},"Service":{"ID":"db","Service":"db","Tags":[],"Meta":{},"Port":5432,"Address":"",` +
			`"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"CreateIndex":3,"ModifyIndex":3},"Checks":[]}]`},
		{"/v1/health/node/n1", `[{"Node":"n1","CheckID":"web1-alive","Name":"alive","Status":"passing","Notes":"","Output":"",` +
			`"ServiceID":"web1","ServiceName":"web","ServiceTags":["v1","primary"],"Type":"","ExposedPort":0,` +
			`"Definition":{"HTTP":"http://10.0.0.1/health","Interval":"10s","Timeout":"5s"},"CreateIndex":0,"ModifyIndex":0}]`},
	}
	for _, tt := range exact {
		t.Run(tt.path, func(t *testing.T) {
			r := call(t, srv, "GET", tt.path, "")
			if r.code != 200 || r.body != tt.want {
				t.Fatalf("%d %s\nwant 200 %s", r.code, r.body, tt.want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.path == "/v1/catalog/datacenters" {
				return
			}
			// Every read carries Consul's query meta.
			for h, want := range map[string]string{
				"X-Consul-Index": "3", "X-Consul-Knownleader": "true", "X-Consul-Lastcontact": "0",
				"X-Consul-Effective-Consistency": "leader",
			} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
		})
	}

	// Filters and query parameters that shape lists.
	lists := []struct {
		path string
		want int
	}{
		{"/v1/catalog/nodes", 2},
		{"/v1/catalog/nodes?filter=" + url.QueryEscape(`Meta.env == prod`), 1},
		{"/v1/catalog/service/web?tag=v1&tag=primary", 1},
		{"/v1/catalog/service/web?filter=" + url.QueryEscape(`ServiceMeta.version == "2"`), 0},
		{"/v1/health/service/web?passing", 1},
		{"/v1/health/service/web?filter=" + url.QueryEscape(`Checks.Status == critical`), 0},
		{"/v1/health/service/web?filter=" + url.QueryEscape(`Checks.Status == passing and Service.Tags contains v1`), 1},
		{"/v1/health/state/any?near=_agent", 1},
		{"/v1/health/state/passing?filter=" + url.QueryEscape(`ServiceName == web`), 1},
		{"/v1/health/checks/web", 1},
	}
	for _, tt := range lists {
		t.Run(tt.path, func(t *testing.T) {
			r := call(t, srv, "GET", tt.path, "")
			var got []json.RawMessage
			if r.code != 200 || json.Unmarshal([]byte(r.body), &got) != nil || len(got) != tt.want {
				t.Fatalf("%d %s, want %d elements", r.code, r.body, tt.want)
			}
		})
	}

	if r := call(t, srv, "GET", "/v1/catalog/node/n1?filter="+url.QueryEscape(`Service == none`), ""); r.code != 200 ||
		!strings.HasSuffix(r.body, `"Services":{}}`) {
		t.Errorf("node services filtered away: %d %s", r.code, r.body)
	}
	if r := call(t, srv, "GET", "/v1/catalog/nodes?stale", ""); r.header.Get("X-Consul-Effective-Consistency") != "stale" {
		t.Errorf("stale read: %v", r.header)
	}
}

func TestHTTPShapeCatalogErrors(t *testing.T) {
	srv := shapeServer(t, newFakeRegistry())
	tests := []struct {
		path string
		code int
		want string
	}{
		{"/v1/health/service/web?passing=bogus", 400, "Invalid value for ?passing"},
		{"/v1/health/state/bogus", 400, `Invalid check state "bogus"`},
		{"/v1/catalog/nodes?filter=" + url.QueryEscape(`Node ==`), 400, "Failed to create boolean expression evaluator"},
		{"/v1/health/service/web?filter=" + url.QueryEscape(`Service.Nope == x`), 400, `Selector "Service.Nope" is not valid`},
		{"/v1/catalog/services?filter=" + url.QueryEscape(`Tags contains x`), 400, `Selector "Tags" is not valid`},
		{"/v1/catalog/service/web?index=abc", 400, "Invalid index"},
		{"/v1/health/checks/web?wait=abc", 400, "Invalid wait time"},
		{"/v1/catalog/node/n1?stale&consistent", 400, "Cannot specify ?stale with ?consistent, conflicting semantics."},
		{"/v1/catalog/nodes?dc=dc2", 500, "No path to datacenter"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := call(t, srv, "GET", tt.path, "")
			if r.code != tt.code || !strings.HasPrefix(r.body, tt.want) {
				t.Fatalf("%d %q, want %d %q", r.code, r.body, tt.code, tt.want)
			}
		})
	}
}

func TestHTTPShapeWithoutRegistry(t *testing.T) {
	srv := shapeServer(t, nil)
	if r := call(t, srv, "GET", "/v1/catalog/nodes", ""); r.code != 500 || r.body != "No known Consul servers" {
		t.Errorf("nodes without a registry: %d %q", r.code, r.body)
	}
	if r := call(t, srv, "PUT", "/v1/catalog/register", `{"Node":"n","Address":"a"}`); r.code != 500 || r.body != "No known Consul servers" {
		t.Errorf("register without a registry: %d %q", r.code, r.body)
	}
	if r := call(t, srv, "GET", "/v1/catalog/datacenters", ""); r.code != 200 || r.body != `["dc1"]` {
		t.Errorf("datacenters without a registry: %d %q", r.code, r.body)
	}
}

// TestHTTPShapeConsulClient drives the handlers with Consul's Go client.
func TestHTTPShapeConsulClient(t *testing.T) {
	srv := shapeServer(t, newFakeRegistry())
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	cat, health := c.Catalog(), c.Health()
	_, err = cat.Register(&api.CatalogRegistration{
		Node: "n1", Address: "10.0.0.1", NodeMeta: map[string]string{"rack": "r1"},
		Service: &api.AgentService{ID: "web-1", Service: "web", Tags: []string{"v1"}, Port: 8080},
		Check:   &api.AgentCheck{CheckID: "web:1", Name: "web alive", Status: api.HealthCritical, ServiceID: "web-1"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dcs, err := cat.Datacenters()
	if err != nil || !slices.Equal(dcs, []string{"dc1"}) {
		t.Fatalf("datacenters: %v %v", dcs, err)
	}
	svcs, meta, err := cat.Services(nil)
	if err != nil || !slices.Equal(svcs["web"], []string{"v1"}) || meta.LastIndex != 2 || !meta.KnownLeader {
		t.Fatalf("services: %v %+v %v", svcs, meta, err)
	}
	inst, _, err := cat.Service("web", "v1", nil)
	if err != nil || len(inst) != 1 || inst[0].ServicePort != 8080 || inst[0].ServiceAddress != "" ||
		inst[0].Address != "10.0.0.1" || inst[0].ServiceWeights != (api.Weights{Passing: 1, Warning: 1}) {
		t.Fatalf("catalog service: %+v %v", inst, err)
	}
	node, _, err := cat.Node("n1", nil)
	if err != nil || node == nil || node.Node.Meta["rack"] != "r1" || node.Services["web-1"].Port != 8080 {
		t.Fatalf("catalog node: %+v %v", node, err)
	}
	if missing, _, err := cat.Node("nope", nil); err != nil || missing != nil {
		t.Fatalf("unknown node: %+v %v", missing, err)
	}
	entries, _, err := health.Service("web", "", false, nil)
	if err != nil || len(entries) != 1 || entries[0].Checks.AggregatedStatus() != api.HealthCritical {
		t.Fatalf("health service: %+v %v", entries, err)
	}
	if passing, _, err := health.Service("web", "", true, nil); err != nil || len(passing) != 0 {
		t.Fatalf("passing instances: %+v %v", passing, err)
	}
	filtered, _, err := health.Service("web", "", false, &api.QueryOptions{Filter: `Node.Meta.rack == r1`})
	if err != nil || len(filtered) != 1 {
		t.Fatalf("filtered: %+v %v", filtered, err)
	}
	checks, _, err := health.State(api.HealthAny, nil)
	if err != nil || len(checks) != 1 || checks[0].ServiceName != "web" {
		t.Fatalf("checks: %+v %v", checks, err)
	}
	if _, err := cat.Deregister(&api.CatalogDeregistration{Node: "n1"}, nil); err != nil {
		t.Fatal(err)
	}
	if nodes, _, err := cat.Nodes(nil); err != nil || len(nodes) != 0 {
		t.Fatalf("nodes after deregistering: %+v %v", nodes, err)
	}
}
