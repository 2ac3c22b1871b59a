package router

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// fakeAgentClient answers the agent listings from fixed data and records
// the requests it gets. Calls it does not implement panic (nil interface).
type fakeAgentClient struct {
	agentv1.AgentServiceClient

	services map[string]*registryv1.Service
	checks   map[string]*registryv1.Check
	calls    []proto.Message
}

func (f *fakeAgentClient) ListServices(_ context.Context, req *agentv1.ListServicesRequest, _ ...grpc.CallOption) (*agentv1.ListServicesResponse, error) {
	f.calls = append(f.calls, req)
	return &agentv1.ListServicesResponse{Services: maps.Clone(f.services)}, nil
}

func (f *fakeAgentClient) ListChecks(_ context.Context, req *agentv1.ListChecksRequest, _ ...grpc.CallOption) (*agentv1.ListChecksResponse, error) {
	f.calls = append(f.calls, req)
	return &agentv1.ListChecksResponse{Checks: maps.Clone(f.checks)}, nil
}

func (f *fakeAgentClient) UpdateCheck(_ context.Context, req *agentv1.UpdateCheckRequest, _ ...grpc.CallOption) (*agentv1.UpdateCheckResponse, error) {
	f.calls = append(f.calls, req)
	return &agentv1.UpdateCheckResponse{}, nil
}

func agentFixture() *fakeAgentClient {
	return &fakeAgentClient{
		services: map[string]*registryv1.Service{
			"web1": {Id: "web1", Service: "web", Tags: []string{"v1"}, Port: 80, Meta: map[string]string{"env": "prod"}},
			"web2": {Id: "web2", Service: "web", Tags: []string{"v2"}, Port: 81},
			"db":   {Id: "db", Service: "db", Port: 5432},
		},
		checks: map[string]*registryv1.Check{
			"service:web1": {CheckId: "service:web1", Status: "passing", ServiceId: "web1", ServiceName: "web", Type: "ttl"},
			"service:db":   {CheckId: "service:db", Status: "critical", ServiceId: "db", ServiceName: "db", Type: "tcp"},
			"mem":          {CheckId: "mem", Status: "warning", Type: "script"},
		},
	}
}

func TestAgentFilters(t *testing.T) {
	tests := []struct {
		name, filter string
		services     []string // IDs kept; nil to list checks instead
		checks       []string
	}{
		{"no filter keeps every service", "", []string{"db", "web1", "web2"}, nil},
		{"by name", `Service == web`, []string{"web1", "web2"}, nil},
		{"by tag", `Tags contains v1`, []string{"web1"}, nil},
		{"by meta", `Meta.env == prod`, []string{"web1"}, nil},
		{"by port", `Port == 81`, []string{"web2"}, nil},
		{"nothing", `Service == nope`, []string{}, nil},
		{"checks by status", `Status != passing`, nil, []string{"mem", "service:db"}},
		{"checks by service", `ServiceName == web`, nil, []string{"service:web1"}},
		{"checks by type", `Type == script`, nil, []string{"mem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := agentFixture()
			a := &Agent{client: f}
			var got []string
			if tt.services != nil {
				resp, err := a.ListServices(context.Background(), &agentv1.ListServicesRequest{Filter: tt.filter})
				if err != nil {
					t.Fatal(err)
				}
				got = slices.Sorted(maps.Keys(resp.GetServices()))
			} else {
				resp, err := a.ListChecks(context.Background(), &agentv1.ListChecksRequest{Filter: tt.filter})
				if err != nil {
					t.Fatal(err)
				}
				got = slices.Sorted(maps.Keys(resp.GetChecks()))
			}
			want := tt.services
			if want == nil {
				want = tt.checks
			}
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("kept %q, want %q", got, want)
			}
			// The health service is asked for everything.
			for _, c := range f.calls {
				if m, ok := c.(interface{ GetFilter() string }); ok && m.GetFilter() != "" {
					t.Errorf("filter forwarded: %v", c)
				}
			}
		})
	}
}

func TestAgentErrors(t *testing.T) {
	ctx := context.Background()
	a := &Agent{client: agentFixture()}
	for _, filter := range []string{`Service ==`, `Nope == x`} {
		_, err := a.ListServices(ctx, &agentv1.ListServicesRequest{Filter: filter})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("filter %q: %v, want InvalidArgument", filter, err)
		}
	}
	if _, err := a.ListChecks(ctx, &agentv1.ListChecksRequest{Filter: `Service == web`}); status.Code(err) != codes.InvalidArgument ||
		!strings.Contains(err.Error(), `Selector "Service" is not valid`) {
		t.Errorf("check filter on a service field: %v", err)
	}

	// Without a health service every call is unavailable.
	none := &Agent{}
	calls := map[string]func() error{
		"Self":         func() error { _, err := none.Self(ctx, &agentv1.SelfRequest{}); return err },
		"ListServices": func() error { _, err := none.ListServices(ctx, &agentv1.ListServicesRequest{}); return err },
		"RegisterService": func() error {
			_, err := none.RegisterService(ctx, &agentv1.RegisterServiceRequest{})
			return err
		},
		"UpdateCheck":    func() error { _, err := none.UpdateCheck(ctx, &agentv1.UpdateCheckRequest{}); return err },
		"SetMaintenance": func() error { _, err := none.SetMaintenance(ctx, &agentv1.SetMaintenanceRequest{}); return err },
		"ServiceHealth":  func() error { _, err := none.ServiceHealth(ctx, &agentv1.ServiceHealthRequest{}); return err },
		"Reload":         func() error { _, err := none.Reload(ctx, &agentv1.ReloadRequest{}); return err },
	}
	for name, call := range calls {
		if err := call(); err != ErrNoHealth {
			t.Errorf("%s without health: %v", name, err)
		}
	}
}

func TestRouterAgentOption(t *testing.T) {
	f := agentFixture()
	rt, err := New("dc1", fakeConn{}, WithHealth(fakeConn{}))
	if err != nil {
		t.Fatal(err)
	}
	if rt.Agent().client == nil {
		t.Fatal("WithHealth did not configure the agent service")
	}
	rt.Agent().client = f
	if _, err := rt.Agent().UpdateCheck(context.Background(), &agentv1.UpdateCheckRequest{CheckId: "c", Status: "passing"}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 {
		t.Errorf("calls %v", f.calls)
	}
	rt, err = New("dc1", fakeConn{})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Agent().client != nil {
		t.Fatal("agent client without WithHealth")
	}
}

// fakeConn is a connection that is never used.
type fakeConn struct{ grpc.ClientConnInterface }
