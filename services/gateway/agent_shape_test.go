package gateway_test

// HTTP shape tests of /v1/agent: the router's agent handlers served over
// httptest, in front of a small in-memory fake of the health service
// (over an in-process gRPC connection), driven by Consul's Go client and
// by raw HTTP. They check status codes, headers and JSON shapes, and what
// reaches the health service; the health service's own behaviour (TTLs,
// probes, anti-entropy) is tested end to end against the real one.

import (
	"context"
	"encoding/json"
	"fmt"
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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/gateway/httpapi"
	"github.com/tribune/tribune/services/gateway/router"
)

const fakeNode = "node-1"

// fakeAgent is an in-memory agent, just enough to give the HTTP layer
// data to shape: services and checks as registered, TTL updates,
// maintenance checks, and service health computed by the gateway (it
// leaves AggregatedStatus empty unless aggregated is set). It does not
// filter (?filter is the router's).
type fakeAgent struct {
	agentv1.UnimplementedAgentServiceServer

	mu         sync.Mutex
	services   map[string]*registryv1.Service
	checks     map[string]*registryv1.Check
	registered []*agentv1.RegisterServiceRequest // every RegisterService
	updates    []*agentv1.UpdateCheckRequest     // every UpdateCheck
	maint      []*agentv1.SetMaintenanceRequest  // every SetMaintenance
	aggregated string                            // ServiceHealth's status, "" for none
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{services: map[string]*registryv1.Service{}, checks: map[string]*registryv1.Check{}}
}

func (f *fakeAgent) Self(context.Context, *agentv1.SelfRequest) (*agentv1.SelfResponse, error) {
	return &agentv1.SelfResponse{
		Datacenter: "dc1", NodeName: fakeNode, NodeId: "5e4c2d6a-2c0f-4b6e-9a59-1f0e4a8b9c01",
		Server: true, Version: "0.1.0", Address: "10.0.0.5:8301", NodeMeta: map[string]string{"rack": "r1"},
	}, nil
}

func (f *fakeAgent) ListServices(context.Context, *agentv1.ListServicesRequest) (*agentv1.ListServicesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*registryv1.Service{}
	for id, s := range f.services {
		out[id] = proto.Clone(s).(*registryv1.Service)
	}
	return &agentv1.ListServicesResponse{Services: out}, nil
}

func (f *fakeAgent) GetService(_ context.Context, req *agentv1.GetServiceRequest) (*agentv1.GetServiceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[req.ServiceId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no service %q", req.ServiceId)
	}
	return &agentv1.GetServiceResponse{Service: s}, nil
}

func checkType(d *agentv1.CheckDefinition) string {
	switch {
	case d.GetTtl() != nil:
		return "ttl"
	case d.GetHttp() != "":
		return "http"
	case d.GetTcp() != "":
		return "tcp"
	case d.GetGrpc() != "":
		return "grpc"
	}
	return "script"
}

// addCheck registers d, critical unless it says otherwise.
func (f *fakeAgent) addCheck(d *agentv1.CheckDefinition) {
	c := &registryv1.Check{
		Node: fakeNode, CheckId: d.CheckId, Name: d.Name, Status: d.Status, Notes: d.Notes,
		ServiceId: d.ServiceId, Type: checkType(d),
		Definition: &registryv1.CheckDefinition{Http: d.Http, Tcp: d.Tcp, Grpc: d.Grpc, Interval: d.GetInterval().AsDuration().String()},
	}
	if d.GetTtl() != nil {
		c.Definition = &registryv1.CheckDefinition{Ttl: d.GetTtl().AsDuration().String()}
	}
	if c.Status == "" {
		c.Status = "critical"
	}
	if s, ok := f.services[d.ServiceId]; ok {
		c.ServiceName, c.ServiceTags = s.Service, s.Tags
	}
	f.checks[c.CheckId] = c
}

func (f *fakeAgent) RegisterService(_ context.Context, req *agentv1.RegisterServiceRequest) (*agentv1.RegisterServiceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registered = append(f.registered, req)
	d := req.Service
	f.services[d.Id] = &registryv1.Service{
		Id: d.Id, Service: d.Name, Tags: d.Tags, Address: d.Address, Port: d.Port, Meta: d.Meta,
		TaggedAddresses: d.TaggedAddresses, Weights: d.Weights, EnableTagOverride: d.EnableTagOverride, Kind: d.Kind,
	}
	keep := map[string]bool{}
	for _, c := range d.Checks {
		keep[c.CheckId] = true
		f.addCheck(c)
	}
	if req.ReplaceExistingChecks {
		for id, c := range f.checks {
			if c.ServiceId == d.Id && !keep[id] {
				delete(f.checks, id)
			}
		}
	}
	return &agentv1.RegisterServiceResponse{}, nil
}

func (f *fakeAgent) DeregisterService(_ context.Context, req *agentv1.DeregisterServiceRequest) (*agentv1.DeregisterServiceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.services[req.ServiceId]; !ok {
		return nil, status.Errorf(codes.NotFound, "Unknown service ID %q. Ensure that the service ID is passed, not the service name.", req.ServiceId)
	}
	delete(f.services, req.ServiceId)
	for id, c := range f.checks {
		if c.ServiceId == req.ServiceId {
			delete(f.checks, id)
		}
	}
	return &agentv1.DeregisterServiceResponse{}, nil
}

func (f *fakeAgent) ListChecks(context.Context, *agentv1.ListChecksRequest) (*agentv1.ListChecksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*registryv1.Check{}
	for id, c := range f.checks {
		out[id] = proto.Clone(c).(*registryv1.Check)
	}
	return &agentv1.ListChecksResponse{Checks: out}, nil
}

func (f *fakeAgent) RegisterCheck(_ context.Context, req *agentv1.RegisterCheckRequest) (*agentv1.RegisterCheckResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id := req.Check.ServiceId; id != "" {
		if _, ok := f.services[id]; !ok {
			return nil, status.Errorf(codes.NotFound, "ServiceID %q does not exist", id)
		}
	}
	f.addCheck(req.Check)
	return &agentv1.RegisterCheckResponse{}, nil
}

func (f *fakeAgent) DeregisterCheck(_ context.Context, req *agentv1.DeregisterCheckRequest) (*agentv1.DeregisterCheckResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.checks, req.CheckId)
	return &agentv1.DeregisterCheckResponse{}, nil
}

func (f *fakeAgent) UpdateCheck(_ context.Context, req *agentv1.UpdateCheckRequest) (*agentv1.UpdateCheckResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, req)
	c, ok := f.checks[req.CheckId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Unknown check ID %q", req.CheckId)
	}
	if c.Type != "ttl" {
		return nil, status.Errorf(codes.InvalidArgument, "CheckID %q does not have associated TTL", req.CheckId)
	}
	c.Status, c.Output = req.Status, req.Output
	return &agentv1.UpdateCheckResponse{}, nil
}

func (f *fakeAgent) SetMaintenance(_ context.Context, req *agentv1.SetMaintenanceRequest) (*agentv1.SetMaintenanceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maint = append(f.maint, req)
	id := "_node_maintenance"
	if req.ServiceId != "" {
		if _, ok := f.services[req.ServiceId]; !ok {
			return nil, status.Errorf(codes.NotFound, "No service registered with ID %q", req.ServiceId)
		}
		id = "_service_maintenance:" + req.ServiceId
	}
	if req.Enable {
		f.checks[id] = &registryv1.Check{Node: fakeNode, CheckId: id, Name: "Maintenance Mode", Status: "critical",
			Notes: req.Reason, ServiceId: req.ServiceId, Type: "maintenance"}
	} else {
		delete(f.checks, id)
	}
	return &agentv1.SetMaintenanceResponse{}, nil
}

func (f *fakeAgent) ServiceHealth(_ context.Context, req *agentv1.ServiceHealthRequest) (*agentv1.ServiceHealthResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, s := range f.services {
		if id == req.ServiceId || (req.ServiceName != "" && s.Service == req.ServiceName) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 && req.ServiceId != "" {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.ServiceId)
	}
	resp := &agentv1.ServiceHealthResponse{}
	for _, id := range ids {
		i := &agentv1.InstanceHealth{Service: f.services[id], AggregatedStatus: f.aggregated}
		var cids []string
		for cid, c := range f.checks {
			if c.ServiceId == id || c.ServiceId == "" {
				cids = append(cids, cid)
			}
		}
		sort.Strings(cids)
		for _, cid := range cids {
			i.Checks = append(i.Checks, f.checks[cid])
		}
		resp.Instances = append(resp.Instances, i)
	}
	return resp, nil
}

func (f *fakeAgent) lastRegistration() *agentv1.RegisterServiceRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.registered[len(f.registered)-1]
}

// agentShapeServer serves the /v1 API with fake as the health service; nil
// configures none.
func agentShapeServer(t *testing.T, fake *fakeAgent) *httptest.Server {
	t.Helper()
	conn := serveInMemory(t, func(gs *grpc.Server) {
		if fake != nil {
			agentv1.RegisterAgentServiceServer(gs, fake)
		}
	})
	var opts []router.Option
	if fake != nil {
		opts = append(opts, router.WithHealth(conn))
	}
	rt, err := router.New("dc1", conn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(context.Background(), httpapi.Config{MaxValueSize: 1 << 10, Datacenter: "dc1"},
		httpapi.Services{KV: rt, Status: rt, Registry: rt.Registry(), Agent: rt.Agent()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func consulClient(t *testing.T, srv *httptest.Server) *api.Agent {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c.Agent()
}

// TestHTTPShapeAgentConsulClient drives /v1/agent with Consul's Go client.
func TestHTTPShapeAgentConsulClient(t *testing.T) {
	fake := newFakeAgent()
	agent := consulClient(t, agentShapeServer(t, fake))

	err := agent.ServiceRegister(&api.AgentServiceRegistration{
		ID: "web-1", Name: "web", Tags: []string{"v1", "primary"}, Port: 8080, Address: "10.0.0.5",
		Meta:            map[string]string{"version": "1"},
		TaggedAddresses: map[string]api.ServiceAddress{"lan": {Address: "10.0.0.5", Port: 8080}},
		Check:           &api.AgentServiceCheck{TTL: "15s", DeregisterCriticalServiceAfter: "90m"},
		Checks: api.AgentServiceChecks{
			{Name: "http", HTTP: "http://10.0.0.5:8080/health", Interval: "10s", Timeout: "1s",
				Header: map[string][]string{"X-Probe": {"1"}}, TLSSkipVerify: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := fake.lastRegistration()
	if reg.ReplaceExistingChecks {
		t.Error("replace-existing-checks without asking")
	}
	def := reg.GetService()
	if def.GetName() != "web" || def.GetPort() != 8080 || def.GetTaggedAddresses()["lan"].GetPort() != 8080 || len(def.GetChecks()) != 2 {
		t.Fatalf("registration: %v", def)
	}
	ttl, http := def.GetChecks()[0], def.GetChecks()[1]
	if ttl.GetCheckId() != "service:web-1:1" || ttl.GetName() != "Service 'web' check" || ttl.GetServiceId() != "web-1" ||
		ttl.GetTtl().AsDuration().String() != "15s" || ttl.GetDeregisterCriticalServiceAfter().AsDuration().String() != "1h30m0s" {
		t.Errorf("TTL check: %v", ttl)
	}
	if http.GetCheckId() != "service:web-1:2" || http.GetName() != "http" || http.GetInterval().AsDuration().String() != "10s" ||
		!http.GetTlsSkipVerify() || http.GetHeader()["X-Probe"].GetValues()[0] != "1" {
		t.Errorf("HTTP check: %v", http)
	}

	// Listing, one service, filters.
	services, err := agent.Services()
	if err != nil {
		t.Fatal(err)
	}
	web := services["web-1"]
	if len(services) != 1 || web == nil || web.Service != "web" || web.Port != 8080 || web.Datacenter != "dc1" ||
		web.Weights != (api.AgentWeights{Passing: 1, Warning: 1}) || web.Meta["version"] != "1" ||
		web.TaggedAddresses["lan"].Address != "10.0.0.5" {
		t.Fatalf("services: %+v", services)
	}
	one, _, err := agent.Service("web-1", nil)
	if err != nil || one.ID != "web-1" || !slices.Equal(one.Tags, []string{"v1", "primary"}) {
		t.Fatalf("service: %+v %v", one, err)
	}
	if _, _, err := agent.Service("nope", nil); err == nil || !strings.Contains(err.Error(), "404") ||
		!strings.Contains(err.Error(), "unknown service ID: nope") {
		t.Errorf("unknown service: %v", err)
	}
	if filtered, err := agent.ServicesWithFilter(`Tags contains primary and Meta.version == "1"`); err != nil || len(filtered) != 1 {
		t.Errorf("filtered services: %v %v", filtered, err)
	}
	if filtered, err := agent.ServicesWithFilter(`Service == db`); err != nil || len(filtered) != 0 {
		t.Errorf("filtered away: %v %v", filtered, err)
	}

	checks, err := agent.Checks()
	if err != nil {
		t.Fatal(err)
	}
	c1 := checks["service:web-1:1"]
	if len(checks) != 2 || c1 == nil || c1.Status != api.HealthCritical || c1.ServiceName != "web" ||
		c1.ServiceID != "web-1" || c1.Type != "ttl" || c1.Node != fakeNode {
		t.Fatalf("checks: %+v", checks)
	}
	if c2 := checks["service:web-1:2"]; c2 == nil || c2.Definition.HTTP != "http://10.0.0.5:8080/health" ||
		c2.Definition.IntervalDuration.String() != "10s" {
		t.Errorf("HTTP check definition: %+v", c2)
	}
	if filtered, err := agent.ChecksWithFilter(`Type == http`); err != nil || len(filtered) != 1 || filtered["service:web-1:2"] == nil {
		t.Errorf("filtered checks: %v %v", filtered, err)
	}

	// TTL updates: the status from the path or body, the output from
	// ?note or the body.
	for _, u := range []struct {
		do     func() error
		status string
		output string
	}{
		{func() error { return agent.UpdateTTL("service:web-1:1", "all good", "pass") }, "passing", "all good"},
		{func() error { return agent.WarnTTL("service:web-1:1", "slow") }, "warning", "slow"},
		{func() error { return agent.FailTTL("service:web-1:1", "down") }, "critical", "down"},
		{func() error { return agent.PassTTL("service:web-1:1", "") }, "passing", ""},
		{func() error { return agent.UpdateTTL("service:web-1:1", "meh", api.HealthWarning) }, "warning", "meh"},
	} {
		if err := u.do(); err != nil {
			t.Fatal(err)
		}
		got := checksNow(t, agent)["service:web-1:1"]
		if got.Status != u.status || got.Output != u.output {
			t.Errorf("after update: %s %q, want %s %q", got.Status, got.Output, u.status, u.output)
		}
	}
	if err := agent.PassTTL("service:web-1:2", ""); err == nil || !strings.Contains(err.Error(), "400") ||
		!strings.Contains(err.Error(), `CheckID "service:web-1:2" does not have associated TTL`) {
		t.Errorf("pass on an HTTP check: %v", err)
	}
	if err := agent.PassTTL("nope", ""); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("pass on an unknown check: %v", err)
	}

	// Health of local instances: critical is 503, warning 429, passing 200.
	st, info, err := agent.AgentHealthServiceByID("web-1")
	if err != nil || st != api.HealthCritical || info == nil || info.AggregatedStatus != api.HealthCritical ||
		info.Service.ID != "web-1" || len(info.Checks) != 2 {
		t.Fatalf("health by ID: %s %+v %v", st, info, err)
	}
	if err := agent.CheckDeregister("service:web-1:2"); err != nil {
		t.Fatal(err)
	}
	st, info, err = agent.AgentHealthServiceByID("web-1")
	if err != nil || st != api.HealthWarning || info.AggregatedStatus != api.HealthWarning || len(info.Checks) != 1 {
		t.Fatalf("health by ID: %s %+v %v", st, info, err)
	}
	if err := agent.PassTTL("service:web-1:1", ""); err != nil {
		t.Fatal(err)
	}
	st, infos, err := agent.AgentHealthServiceByName("web")
	if err != nil || st != api.HealthPassing || len(infos) != 1 || infos[0].Checks.AggregatedStatus() != api.HealthPassing {
		t.Fatalf("health by name: %s %+v %v", st, infos, err)
	}
	if st, info, err := agent.AgentHealthServiceByID("nope"); err != nil || st != api.HealthCritical || info != nil {
		t.Errorf("health of an unknown ID: %s %+v %v", st, info, err)
	}
	if st, infos, err := agent.AgentHealthServiceByName("nope"); err != nil || st != api.HealthCritical || infos != nil {
		t.Errorf("health of an unknown name: %s %+v %v", st, infos, err)
	}

	// Maintenance: a critical _service_maintenance check; the instance
	// is in maintenance (503).
	if err := agent.EnableServiceMaintenance("web-1", "deploying"); err != nil {
		t.Fatal(err)
	}
	m := checksNow(t, agent)["_service_maintenance:web-1"]
	if m == nil || m.Status != api.HealthCritical || m.Notes != "deploying" {
		t.Fatalf("maintenance check: %+v", m)
	}
	st, info, err = agent.AgentHealthServiceByID("web-1")
	if err != nil || st != api.HealthCritical || info.AggregatedStatus != api.HealthMaint {
		t.Errorf("health in maintenance: %s %+v %v", st, info, err)
	}
	if err := agent.DisableServiceMaintenance("web-1"); err != nil {
		t.Fatal(err)
	}
	if err := agent.EnableServiceMaintenance("nope", ""); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("maintenance of an unknown service: %v", err)
	}
	if err := agent.EnableNodeMaintenance("kernel upgrade"); err != nil {
		t.Fatal(err)
	}
	if err := agent.DisableNodeMaintenance(); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	maint := slices.Clone(fake.maint)
	fake.mu.Unlock()
	want := []string{"web-1 true deploying", "web-1 false ", "nope true ", " true kernel upgrade", " false "}
	var got []string
	for _, r := range maint {
		got = append(got, fmt.Sprintf("%s %v %s", r.ServiceId, r.Enable, r.Reason))
	}
	if !slices.Equal(got, want) {
		t.Errorf("maintenance requests %q, want %q", got, want)
	}

	// A standalone check, and a check of an unknown service.
	if err := agent.CheckRegister(&api.AgentCheckRegistration{Name: "mem", AgentServiceCheck: api.AgentServiceCheck{TTL: "30s"}}); err != nil {
		t.Fatal(err)
	}
	if checksNow(t, agent)["mem"] == nil {
		t.Error("mem check not registered under its name")
	}
	err = agent.CheckRegister(&api.AgentCheckRegistration{ID: "x", Name: "x", ServiceID: "nope",
		AgentServiceCheck: api.AgentServiceCheck{TCP: "localhost:1", Interval: "5s"}})
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), `ServiceID "nope" does not exist`) {
		t.Errorf("check of an unknown service: %v", err)
	}

	// Self.
	self, err := agent.Self()
	if err != nil {
		t.Fatal(err)
	}
	if dc, ok := self["Config"]["Datacenter"].(string); !ok || dc != "dc1" {
		t.Errorf("Config.Datacenter: %#v", self["Config"]["Datacenter"])
	}
	if name, err := agent.NodeName(); err != nil || name != fakeNode {
		t.Errorf("node name: %q %v", name, err)
	}
	if self["Member"]["Addr"] != "10.0.0.5" || self["Member"]["Port"] != float64(8301) {
		t.Errorf("member: %v", self["Member"])
	}
	if tags, ok := self["Member"]["Tags"].(map[string]any); !ok || tags["role"] != "consul" || tags["dc"] != "dc1" {
		t.Errorf("member tags: %#v", self["Member"]["Tags"])
	}
	stats, ok := self["Stats"]["agent"].(map[string]any)
	if !ok || stats["services"] != "1" || stats["checks"] != "2" || stats["check_ttls"] != "2" {
		t.Errorf("Stats.agent: %#v", self["Stats"]["agent"])
	}

	// Re-registration replacing the checks, then deregistration.
	err = agent.ServiceRegisterOpts(&api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8080},
		api.ServiceRegisterOpts{ReplaceExistingChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	if !fake.lastRegistration().ReplaceExistingChecks {
		t.Error("replace-existing-checks not forwarded")
	}
	if err := agent.ServiceDeregister("web-1"); err != nil {
		t.Fatal(err)
	}
	if err := agent.ServiceDeregister("web-1"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("deregistering twice: %v", err)
	}
	if services, err := agent.Services(); err != nil || len(services) != 0 {
		t.Errorf("services after deregistering: %v %v", services, err)
	}
}

func checksNow(t *testing.T, agent *api.Agent) map[string]*api.AgentCheck {
	t.Helper()
	checks, err := agent.Checks()
	if err != nil {
		t.Fatal(err)
	}
	return checks
}

// TestHTTPShapeAgentWrites checks the status codes and bodies of the
// agent's writes: an empty 200, or a plain-text 400 in Consul's words.
func TestHTTPShapeAgentWrites(t *testing.T) {
	fake := newFakeAgent()
	srv := agentShapeServer(t, fake)
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"register", "PUT", "/v1/agent/service/register", `{"Name":"web","Port":80,"Check":{"TTL":"10s"}}`, 200, ""},
		{"register snake_case", "PUT", "/v1/agent/service/register?replace-existing-checks", `{"name":"db","checks":[{"tcp":"localhost:5432","interval":"5s"}]}`, 200, ""},
		{"register malformed", "PUT", "/v1/agent/service/register", `{"Name":`, 400, "Request decode failed: unexpected end of JSON input"},
		{"register empty body", "PUT", "/v1/agent/service/register", ``, 400, "Request decode failed: EOF"},
		{"register without name", "PUT", "/v1/agent/service/register", `{"ID":"x"}`, 400, "Missing service name"},
		{"register bad port type", "PUT", "/v1/agent/service/register", `{"Name":"x","Port":"80"}`, 400,
			"Request decode failed: Port: json: cannot unmarshal string into Go value of type int"},
		{"register bad duration", "PUT", "/v1/agent/service/register", `{"Name":"x","Check":{"TTL":"5x"}}`, 400,
			`Request decode failed: Invalid duration for Check.TTL: time: unknown unit "x" in duration "5x"`},
		{"register two kinds", "PUT", "/v1/agent/service/register", `{"Name":"x","Check":{"TTL":"5s","HTTP":"http://x"}}`, 400,
			"Invalid check: Check: only one of TTL, HTTP, TCP, GRPC or Args may be given, got TTL and HTTP"},
		{"register bad check status", "PUT", "/v1/agent/service/register", `{"Name":"x","Check":{"TTL":"5s","Status":"up"}}`, 400,
			"Status for checks must 'passing', 'warning', 'critical'"},
		{"register any address", "PUT", "/v1/agent/service/register", `{"Name":"x","Address":"0.0.0.0"}`, 400, "Invalid service address"},
		{"register negative port", "PUT", "/v1/agent/service/register", `{"Name":"x","Port":-1}`, 400, "Invalid service port: -1 (must be 0-65535)"},
		{"check register", "PUT", "/v1/agent/check/register", `{"Name":"mem","TTL":"30s","Status":"passing"}`, 200, ""},
		{"check register without name", "PUT", "/v1/agent/check/register", `{"TTL":"30s"}`, 400, "Missing check name"},
		{"check register bad status", "PUT", "/v1/agent/check/register", `{"Name":"m","TTL":"30s","Status":"ok"}`, 400, "Bad check status"},
		{"check register no kind", "PUT", "/v1/agent/check/register", `{"Name":"m"}`, 400, "Invalid check: TTL must be > 0 for TTL checks"},
		{"update", "PUT", "/v1/agent/check/update/mem", `{"Status":"warning","Output":"75%"}`, 200, ""},
		{"update bad status", "PUT", "/v1/agent/check/update/mem", `{"Status":"bogus"}`, 400, "Invalid check status: 'bogus'"},
		{"update malformed", "PUT", "/v1/agent/check/update/mem", `{"Status":`, 400, "Request decode failed: unexpected end of JSON input"},
		{"update empty", "PUT", "/v1/agent/check/update/mem", ``, 400, "Request decode failed: EOF"},
		{"pass", "PUT", "/v1/agent/check/pass/mem?note=fine", ``, 200, ""},
		{"fail unknown", "PUT", "/v1/agent/check/fail/nope", ``, 404, `Unknown check ID "nope"`},
		{"deregister check", "PUT", "/v1/agent/check/deregister/mem", ``, 200, ""},
		{"maintenance", "PUT", "/v1/agent/service/maintenance/web?enable=true&reason=x", ``, 200, ""},
		{"maintenance without enable", "PUT", "/v1/agent/service/maintenance/web", ``, 400, "Missing value for enable"},
		{"maintenance bad enable", "PUT", "/v1/agent/service/maintenance/web?enable=maybe", ``, 400, `Invalid value for enable: "maybe"`},
		{"node maintenance", "PUT", "/v1/agent/maintenance?enable=false", ``, 200, ""},
		{"node maintenance without enable", "PUT", "/v1/agent/maintenance?reason=x", ``, 400, "Missing value for enable"},
		{"deregister", "PUT", "/v1/agent/service/deregister/db", ``, 200, ""},
		{"deregister unknown", "PUT", "/v1/agent/service/deregister/db", ``, 404, `Unknown service ID "db"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, srv, tt.method, tt.path, tt.body)
			if r.code != tt.code || !strings.HasPrefix(r.body, tt.want) {
				t.Fatalf("%s %s: %d %q, want %d %q", tt.method, tt.path, r.code, r.body, tt.code, tt.want)
			}
			if tt.code == 200 && r.body != "" {
				t.Errorf("body %q, want none", r.body)
			}
			if tt.code != 200 && !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
				t.Errorf("error Content-Type %q, want text/plain", r.header.Get("Content-Type"))
			}
		})
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.registered) != 2 || fake.registered[0].ReplaceExistingChecks || !fake.registered[1].ReplaceExistingChecks {
		t.Errorf("registrations: %v", fake.registered)
	}
	var updates []string
	for _, u := range fake.updates {
		updates = append(updates, u.CheckId+" "+u.Status+" "+u.Output)
	}
	if want := []string{"mem warning 75%", "mem passing fine", "nope critical "}; !slices.Equal(updates, want) {
		t.Errorf("updates %q, want %q", updates, want)
	}
}

// TestHTTPShapeAgentReads pins the JSON of the agent's reads and the
// status codes of its health endpoints.
func TestHTTPShapeAgentReads(t *testing.T) {
	fake := newFakeAgent()
	srv := agentShapeServer(t, fake)
	for _, body := range []string{
		`{"ID":"db-1","Name":"db","Port":5432,"Check":{"CheckID":"db-ttl","TTL":"10s","Status":"passing"}}`,
		`{"ID":"db-2","Name":"db","Port":5433,"Tags":["replica"],"Weights":{"Passing":3,"Warning":1},"Check":{"TTL":"10s","Status":"warning"}}`,
	} {
		if r := call(t, srv, "PUT", "/v1/agent/service/register", body); r.code != 200 {
			t.Fatalf("register: %+v", r)
		}
	}

	exact := []struct {
		path string
		code int
		want string
	}{
		{"/v1/agent/service/db-1", 200, `{"ID":"db-1","Service":"db","Tags":[],"Meta":{},"Port":5432,"Address":"",` +
			`"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"CreateIndex":0,"ModifyIndex":0,"Datacenter":"dc1"}`},
		{"/v1/agent/services?filter=" + url.QueryEscape(`Tags contains replica`), 200, `{"db-2":{"ID":"db-2","Service":"db","Tags":["replica"],` +
			`"Meta":{},"Port":5433,"Address":"","Weights":{"Passing":3,"Warning":1},"EnableTagOverride":false,"CreateIndex":0,"ModifyIndex":0,"Datacenter":"dc1"}}`},
		{"/v1/agent/services?filter=" + url.QueryEscape(`Service == none`), 200, `{}`},
		{"/v1/agent/checks?filter=" + url.QueryEscape(`CheckID == "db-ttl"`), 200, `{"db-ttl":{"Node":"node-1","CheckID":"db-ttl",` +
			`"Name":"Service 'db' check","Status":"passing","Notes":"","Output":"","ServiceID":"db-1","ServiceName":"db","ServiceTags":[],` +
			`"Type":"ttl","ExposedPort":0,"Definition":{"TTL":"10s"},"CreateIndex":0,"ModifyIndex":0}}`},
		{"/v1/agent/checks?filter=" + url.QueryEscape(`Status == critical`), 200, `{}`},
		{"/v1/agent/service/nope", 404, `unknown service ID: nope`},
		{"/v1/agent/health/service/id/db-1?format=text", 200, `passing`},
		{"/v1/agent/health/service/id/db-2?format=text", 429, `warning`},
		{"/v1/agent/health/service/name/db?format=text", 429, `warning`},
		{"/v1/agent/health/service/id/nope?format=text", 404, `ServiceId nope not found`},
		{"/v1/agent/health/service/name/nope?format=text", 404, `ServiceName nope Not Found`},
		{"/v1/agent/health/service/id/nope", 404, `{"AggregatedStatus":"critical","Service":null,"Checks":null}`},
		{"/v1/agent/health/service/name/nope", 404, `[]`},
		{"/v1/agent/health/service/id/db-1", 200, `{"AggregatedStatus":"passing","Service":{"ID":"db-1","Service":"db","Tags":[],"Meta":{},` +
			`"Port":5432,"Address":"","Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"CreateIndex":0,"ModifyIndex":0,"Datacenter":"dc1"},` +
			`"Checks":[{"Node":"node-1","CheckID":"db-ttl","Name":"Service 'db' check","Status":"passing","Notes":"","Output":"",` +
			`"ServiceID":"db-1","ServiceName":"db","ServiceTags":[],"Type":"ttl","ExposedPort":0,"Definition":{"TTL":"10s"},"CreateIndex":0,"ModifyIndex":0}]}`},
		{"/v1/agent/services?filter=" + url.QueryEscape(`Service ==`), 400, `Failed to create boolean expression evaluator`},
		{"/v1/agent/checks?filter=" + url.QueryEscape(`Nope == x`), 400, `Selector "Nope" is not valid`},
	}
	for _, tt := range exact {
		t.Run(tt.path, func(t *testing.T) {
			r := call(t, srv, "GET", tt.path, "")
			if r.code != tt.code || !strings.HasPrefix(r.body, tt.want) || (tt.code < 400 && r.body != tt.want) {
				t.Fatalf("%d %s\nwant %d %s", r.code, r.body, tt.code, tt.want)
			}
			ct := r.header.Get("Content-Type")
			wantText := strings.Contains(tt.path, "format=text") || (tt.code >= 400 && !strings.Contains(tt.path, "/health/"))
			if wantText != strings.HasPrefix(ct, "text/plain") || (!wantText && ct != "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}

	// By name, the worst instance's code, every instance in the body.
	r := call(t, srv, "GET", "/v1/agent/health/service/name/db", "")
	var infos []api.AgentServiceChecksInfo
	if r.code != 429 || json.Unmarshal([]byte(r.body), &infos) != nil || len(infos) != 2 ||
		infos[0].AggregatedStatus != "passing" || infos[1].AggregatedStatus != "warning" {
		t.Errorf("health by name: %d %s", r.code, r.body)
	}
	// Accept: text/plain is text too; a critical instance is 503.
	fake.mu.Lock()
	fake.checks["db-ttl"].Status = "critical"
	fake.mu.Unlock()
	req, err := http.NewRequest("GET", srv.URL+"/v1/agent/health/service/id/db-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("critical as text: %d %v", resp.StatusCode, resp.Header)
	}
	// The health service's own aggregated status wins over the gateway's.
	fake.mu.Lock()
	fake.aggregated = "maintenance"
	fake.mu.Unlock()
	if r := call(t, srv, "GET", "/v1/agent/health/service/id/db-1?format=text", ""); r.code != 503 || r.body != "maintenance" {
		t.Errorf("maintenance: %d %q", r.code, r.body)
	}

	// Self: the shape Prometheus, consul-template, Vault and `consul info`
	// read.
	r = call(t, srv, "GET", "/v1/agent/self", "")
	var self struct {
		Config      map[string]any
		DebugConfig map[string]any
		Coord       *struct{}
		Member      struct {
			Name, Addr string
			Port       int
			Tags       map[string]string
			Status     int
		}
		Stats map[string]map[string]string
		Meta  map[string]string
	}
	if r.code != 200 {
		t.Fatalf("self: %d %s", r.code, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &self); err != nil {
		t.Fatalf("self: %v\n%s", err, r.body)
	}
	for _, k := range []string{"Datacenter", "PrimaryDatacenter", "NodeName", "NodeID", "Revision", "Version", "BuildDate"} {
		if _, ok := self.Config[k].(string); !ok {
			t.Errorf("Config.%s is %#v, want a string", k, self.Config[k])
		}
	}
	if self.Config["Server"] != true || self.Config["Datacenter"] != "dc1" || self.Config["NodeName"] != fakeNode {
		t.Errorf("Config: %v", self.Config)
	}
	if self.DebugConfig == nil || self.Coord != nil || self.Member.Name != fakeNode || self.Member.Status != 1 ||
		self.Member.Tags == nil || self.Meta["rack"] != "r1" {
		t.Errorf("self: %s", r.body)
	}
	for _, section := range []string{"agent", "build", "runtime", "consul"} {
		if len(self.Stats[section]) == 0 {
			t.Errorf("Stats.%s missing: %v", section, self.Stats)
		}
	}
	if self.Stats["build"]["version"] != "0.1.0" || self.Stats["agent"]["services"] != "2" {
		t.Errorf("Stats: %v", self.Stats)
	}
}

// TestHTTPShapeAgentWithoutHealth: with no health service the agent API
// answers 500, which Consul's client retries.
func TestHTTPShapeAgentWithoutHealth(t *testing.T) {
	srv := agentShapeServer(t, nil)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/agent/services", ""},
		{"GET", "/v1/agent/self", ""},
		{"PUT", "/v1/agent/service/register", `{"Name":"web"}`},
		{"GET", "/v1/agent/health/service/id/web", ""},
	} {
		r := call(t, srv, c.method, c.path, c.body)
		if r.code != 500 || !strings.HasPrefix(r.body, "No health service") {
			t.Errorf("%s %s: %d %q", c.method, c.path, r.code, r.body)
		}
	}
	// A body that cannot be read is still the caller's mistake.
	if r := call(t, srv, "PUT", "/v1/agent/service/register", `{}`); r.code != 400 || r.body != "Missing service name" {
		t.Errorf("bad body without health: %d %q", r.code, r.body)
	}
}
