package consul

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hashicorp/consul/api"

	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// jsonOf marshals v and reads it back as generic JSON, to compare with
// what Consul writes.
func jsonOf(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return out
}

func TestNodeFromProto(t *testing.T) {
	tests := []struct {
		name string
		in   *registryv1.Node
		want map[string]any
	}{
		{
			name: "bare node: maps are {}",
			in:   &registryv1.Node{Node: "n1", Address: "10.0.0.1", Datacenter: "dc1", CreateIndex: 5, ModifyIndex: 7},
			want: map[string]any{
				"ID": "", "Node": "n1", "Address": "10.0.0.1", "Datacenter": "dc1",
				"TaggedAddresses": map[string]any{}, "Meta": map[string]any{},
				"CreateIndex": 5.0, "ModifyIndex": 7.0,
			},
		},
		{
			name: "full node",
			in: &registryv1.Node{
				Id: "40e4a748-2192-161a-0510-9bf59fe950b5", Node: "n2", Address: "10.0.0.2", Datacenter: "dc1",
				TaggedAddresses: map[string]string{"lan": "10.0.0.2", "wan": "1.2.3.4"},
				Meta:            map[string]string{"env": "prod"},
			},
			want: map[string]any{
				"ID": "40e4a748-2192-161a-0510-9bf59fe950b5", "Node": "n2", "Address": "10.0.0.2", "Datacenter": "dc1",
				"TaggedAddresses": map[string]any{"lan": "10.0.0.2", "wan": "1.2.3.4"},
				"Meta":            map[string]any{"env": "prod"},
				"CreateIndex":     0.0, "ModifyIndex": 0.0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jsonOf(t, NodeFromProto(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
	if NodeFromProto(nil) != nil {
		t.Error("NodeFromProto(nil) is not nil")
	}
}

func TestServiceFromProto(t *testing.T) {
	tests := []struct {
		name string
		in   *registryv1.Service
		want map[string]any
	}{
		{
			name: "bare service: Tags [], Meta {}, default weights, empty address kept, no tagged addresses",
			in:   &registryv1.Service{Id: "web1", Service: "web", Port: 80, CreateIndex: 3, ModifyIndex: 4},
			want: map[string]any{
				"ID": "web1", "Service": "web", "Tags": []any{}, "Meta": map[string]any{},
				"Port": 80.0, "Address": "", "Weights": map[string]any{"Passing": 1.0, "Warning": 1.0},
				"EnableTagOverride": false, "CreateIndex": 3.0, "ModifyIndex": 4.0,
			},
		},
		{
			name: "full service",
			in: &registryv1.Service{
				Id: "redis1", Service: "redis", Tags: []string{"primary", "v1"}, Address: "127.0.0.1", Port: 8000,
				Meta:              map[string]string{"redis_version": "4.0"},
				TaggedAddresses:   map[string]*registryv1.ServiceAddress{"lan": {Address: "127.0.0.1", Port: 8000}},
				Weights:           &registryv1.Weights{Passing: 10, Warning: 1},
				EnableTagOverride: true, Kind: "connect-proxy",
			},
			want: map[string]any{
				"Kind": "connect-proxy", "ID": "redis1", "Service": "redis", "Tags": []any{"primary", "v1"},
				"Meta": map[string]any{"redis_version": "4.0"}, "Port": 8000.0, "Address": "127.0.0.1",
				"TaggedAddresses":   map[string]any{"lan": map[string]any{"Address": "127.0.0.1", "Port": 8000.0}},
				"Weights":           map[string]any{"Passing": 10.0, "Warning": 1.0},
				"EnableTagOverride": true, "CreateIndex": 0.0, "ModifyIndex": 0.0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jsonOf(t, ServiceFromProto(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestCatalogServiceFromProto(t *testing.T) {
	in := &registryv1.ServiceInstance{
		Node: &registryv1.Node{Id: "id1", Node: "n1", Address: "10.0.0.1", Datacenter: "dc1"},
		Service: &registryv1.Service{
			Id: "web1", Service: "web", Port: 80, CreateIndex: 11, ModifyIndex: 12,
		},
	}
	got := jsonOf(t, CatalogServiceFromProto(in))
	want := map[string]any{
		"ID": "id1", "Node": "n1", "Address": "10.0.0.1", "Datacenter": "dc1",
		"TaggedAddresses": map[string]any{}, "NodeMeta": map[string]any{},
		"ServiceKind": "", "ServiceID": "web1", "ServiceName": "web", "ServiceTags": []any{},
		"ServiceAddress": "", "ServiceWeights": map[string]any{"Passing": 1.0, "Warning": 1.0},
		"ServiceMeta": map[string]any{}, "ServicePort": 80.0, "ServiceEnableTagOverride": false,
		"CreateIndex": 11.0, "ModifyIndex": 12.0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if got := CatalogServicesFromProto(nil); got == nil || len(got) != 0 {
		t.Errorf("CatalogServicesFromProto(nil) = %#v, want an empty list", got)
	}
}

func TestCheckFromProto(t *testing.T) {
	tests := []struct {
		name string
		in   *registryv1.Check
		want map[string]any
	}{
		{
			name: "node check: ServiceTags [], Definition {}",
			in:   &registryv1.Check{Node: "n1", CheckId: "serfHealth", Name: "Serf Health Status", Status: "passing"},
			want: map[string]any{
				"Node": "n1", "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing",
				"Notes": "", "Output": "", "ServiceID": "", "ServiceName": "", "ServiceTags": []any{},
				"Type": "", "ExposedPort": 0.0, "Definition": map[string]any{}, "CreateIndex": 0.0, "ModifyIndex": 0.0,
			},
		},
		{
			name: "http check with its definition",
			in: &registryv1.Check{
				Node: "n1", CheckId: "service:web1", Name: "web", Status: "critical", ServiceId: "web1",
				ServiceName: "web", ServiceTags: []string{"v1"}, Type: "http",
				Definition: &registryv1.CheckDefinition{
					Http: "http://localhost/health", Method: "GET", Interval: "10s", Timeout: "1s",
					Header: map[string]*registryv1.HeaderValues{"X-A": {Values: []string{"1", "2"}}},
				},
				CreateIndex: 8, ModifyIndex: 9,
			},
			want: map[string]any{
				"Node": "n1", "CheckID": "service:web1", "Name": "web", "Status": "critical",
				"Notes": "", "Output": "", "ServiceID": "web1", "ServiceName": "web", "ServiceTags": []any{"v1"},
				"Type": "http", "ExposedPort": 0.0,
				"Definition": map[string]any{
					"HTTP": "http://localhost/health", "Method": "GET", "Interval": "10s", "Timeout": "1s",
					"Header": map[string]any{"X-A": []any{"1", "2"}},
				},
				"CreateIndex": 8.0, "ModifyIndex": 9.0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jsonOf(t, CheckFromProto(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestCatalogNodeFromProto(t *testing.T) {
	if got := CatalogNodeFromProto(&registryv1.NodeServicesResponse{}); got != nil {
		t.Errorf("unknown node: got %+v, want nil", got)
	}
	b, _ := json.Marshal(CatalogNodeFromProto(&registryv1.NodeServicesResponse{}))
	if string(b) != "null" {
		t.Errorf("unknown node body %s, want null", b)
	}
	got := CatalogNodeFromProto(&registryv1.NodeServicesResponse{Node: &registryv1.Node{Node: "n1"}})
	if got.Services == nil || len(got.Services) != 0 {
		t.Errorf("node without services: Services = %#v, want {}", got.Services)
	}
	got = CatalogNodeFromProto(&registryv1.NodeServicesResponse{
		Node:     &registryv1.Node{Node: "n1"},
		Services: []*registryv1.Service{{Id: "a", Service: "web"}, {Id: "b", Service: "db"}},
	})
	if len(got.Services) != 2 || got.Services["a"].Service != "web" || got.Services["b"].Service != "db" {
		t.Errorf("services by ID: %+v", got.Services)
	}
}

func TestServicesFromProto(t *testing.T) {
	got := ServicesFromProto(map[string]*registryv1.ServiceTags{
		"consul": {},
		"web":    {Tags: []string{"primary", "v1"}},
		"nil":    nil,
	})
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"consul":[],"nil":[],"web":["primary","v1"]}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	b, _ = json.Marshal(ServicesFromProto(nil))
	if string(b) != "{}" {
		t.Errorf("no services: %s, want {}", b)
	}
}

// TestShapesDecodeWithConsulAPI checks that Consul's Go client reads the
// shapes: the JSON is decoded into github.com/hashicorp/consul/api types.
func TestShapesDecodeWithConsulAPI(t *testing.T) {
	node := &registryv1.Node{Id: "id1", Node: "n1", Address: "10.0.0.1", Datacenter: "dc1",
		Meta: map[string]string{"env": "prod"}, CreateIndex: 1, ModifyIndex: 2}
	svc := &registryv1.Service{Id: "web1", Service: "web", Tags: []string{"v1"}, Port: 80,
		TaggedAddresses: map[string]*registryv1.ServiceAddress{"wan": {Address: "1.2.3.4", Port: 443}},
		CreateIndex:     3, ModifyIndex: 4}
	check := &registryv1.Check{Node: "n1", CheckId: "c1", Name: "c", Status: "passing", ServiceId: "web1",
		ServiceName: "web", Definition: &registryv1.CheckDefinition{Tcp: "localhost:80", Interval: "5s"}}

	roundTrip := func(v, out any) {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("api cannot decode %s: %v", b, err)
		}
	}

	var entries []*api.ServiceEntry
	roundTrip(ServiceEntriesFromProto([]*registryv1.ServiceHealthEntry{{Node: node, Service: svc, Checks: []*registryv1.Check{check}}}), &entries)
	e := entries[0]
	if e.Node.Node != "n1" || e.Node.Meta["env"] != "prod" || e.Node.ModifyIndex != 2 {
		t.Errorf("node: %+v", e.Node)
	}
	if e.Service.Service != "web" || e.Service.Port != 80 || e.Service.Weights != (api.AgentWeights{Passing: 1, Warning: 1}) ||
		e.Service.TaggedAddresses["wan"] != (api.ServiceAddress{Address: "1.2.3.4", Port: 443}) || e.Service.ModifyIndex != 4 {
		t.Errorf("service: %+v", e.Service)
	}
	if len(e.Checks) != 1 || e.Checks[0].Status != "passing" || e.Checks[0].Definition.TCP != "localhost:80" ||
		e.Checks[0].Definition.IntervalDuration.String() != "5s" {
		t.Errorf("checks: %+v", e.Checks[0])
	}
	if e.Checks.AggregatedStatus() != api.HealthPassing {
		t.Errorf("aggregated status %q", e.Checks.AggregatedStatus())
	}

	var services []*api.CatalogService
	roundTrip(CatalogServicesFromProto([]*registryv1.ServiceInstance{{Node: node, Service: svc}}), &services)
	if s := services[0]; s.ServiceName != "web" || s.ServiceID != "web1" || s.NodeMeta["env"] != "prod" ||
		s.ServiceWeights != (api.Weights{Passing: 1, Warning: 1}) || s.ServiceAddress != "" || s.Address != "10.0.0.1" {
		t.Errorf("catalog service: %+v", s)
	}

	var cn *api.CatalogNode
	roundTrip(CatalogNodeFromProto(&registryv1.NodeServicesResponse{Node: node, Services: []*registryv1.Service{svc}}), &cn)
	if cn.Node.Node != "n1" || cn.Services["web1"].Service != "web" {
		t.Errorf("catalog node: %+v", cn)
	}
}
