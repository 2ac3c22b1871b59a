package consul

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"

	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// TestDecodeAPIRegistration decodes what Consul's Go client sends: an
// api.CatalogRegistration marshalled with encoding/json.
func TestDecodeAPIRegistration(t *testing.T) {
	reg := &api.CatalogRegistration{
		ID:              "40e4a748-2192-161a-0510-9bf59fe950b5",
		Node:            "t2.320",
		Address:         "192.168.10.10",
		Datacenter:      "dc1",
		TaggedAddresses: map[string]string{"lan": "192.168.10.10", "wan": "10.0.10.10"},
		NodeMeta:        map[string]string{"somekey": "somevalue"},
		Service: &api.AgentService{
			ID:      "redis1",
			Service: "redis",
			Tags:    []string{"primary", "v1"},
			Address: "127.0.0.1",
			TaggedAddresses: map[string]api.ServiceAddress{
				"lan": {Address: "127.0.0.1", Port: 8000},
				"wan": {Address: "198.18.0.1", Port: 80},
			},
			Meta: map[string]string{"redis_version": "4.0"},
			Port: 8000,
		},
		Check: &api.AgentCheck{
			Node:      "t2.320",
			CheckID:   "service:redis1",
			Name:      "Redis health check",
			Notes:     "Script based health check",
			Status:    api.HealthPassing,
			ServiceID: "redis1",
			Definition: api.HealthCheckDefinition{
				TCP:                                    "localhost:8888",
				IntervalDuration:                       5 * time.Second,
				TimeoutDuration:                        time.Second,
				DeregisterCriticalServiceAfterDuration: 30 * time.Second,
			},
		},
		Checks: api.HealthChecks{{
			Node: "t2.320", CheckID: "mem", Name: "Memory", Status: api.HealthWarning,
			Definition: api.HealthCheckDefinition{HTTP: "http://localhost/mem", Method: "GET",
				Header: map[string][]string{"X-Token": {"a"}}, Interval: api.ReadableDuration(10 * time.Second)},
		}},
		SkipNodeUpdate: true,
	}
	body, err := json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRegistration(body)
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	want := &registryv1.RegisterRequest{
		Node: &registryv1.Node{
			Id: "40e4a748-2192-161a-0510-9bf59fe950b5", Node: "t2.320", Address: "192.168.10.10", Datacenter: "dc1",
			TaggedAddresses: map[string]string{"lan": "192.168.10.10", "wan": "10.0.10.10"},
			Meta:            map[string]string{"somekey": "somevalue"},
		},
		Service: &registryv1.Service{
			Id: "redis1", Service: "redis", Tags: []string{"primary", "v1"}, Address: "127.0.0.1", Port: 8000,
			Meta: map[string]string{"redis_version": "4.0"},
			TaggedAddresses: map[string]*registryv1.ServiceAddress{
				"lan": {Address: "127.0.0.1", Port: 8000},
				"wan": {Address: "198.18.0.1", Port: 80},
			},
			// The client writes Weights {0, 0} when none were set: unset.
		},
		Checks: []*registryv1.Check{
			{
				Node: "t2.320", CheckId: "mem", Name: "Memory", Status: "warning",
				Definition: &registryv1.CheckDefinition{Http: "http://localhost/mem", Method: "GET",
					Header: map[string]*registryv1.HeaderValues{"X-Token": {Values: []string{"a"}}}, Interval: "10s"},
			},
			{
				Node: "t2.320", CheckId: "service:redis1", Name: "Redis health check", Notes: "Script based health check",
				Status: "passing", ServiceId: "redis1",
				Definition: &registryv1.CheckDefinition{Tcp: "localhost:8888", Interval: "5s", Timeout: "1s",
					DeregisterCriticalServiceAfter: "30s"},
			},
		},
		SkipNodeUpdate: true,
		Options:        &queryv1.WriteOptions{Datacenter: "dc1"},
	}
	if !proto.Equal(got, want) {
		t.Errorf("from %s\ngot  %v\nwant %v", body, got, want)
	}
}

func TestDecodeRegistration(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *registryv1.RegisterRequest
	}{
		{
			name: "node only",
			body: `{"Node":"n1","Address":"10.0.0.1"}`,
			want: &registryv1.RegisterRequest{
				Node:    &registryv1.Node{Node: "n1", Address: "10.0.0.1"},
				Options: &queryv1.WriteOptions{},
			},
		},
		{
			name: "unknown fields tolerated, names case-insensitive",
			body: `{"node":"n1","address":"10.0.0.1","Partition":"","Locality":null,"Service":{"service":"web","port":80,
				"Connect":{"Native":false},"Proxy":null,"Namespace":"default","SocketPath":""},"Whatever":[1,2]}`,
			want: &registryv1.RegisterRequest{
				Node:    &registryv1.Node{Node: "n1", Address: "10.0.0.1"},
				Service: &registryv1.Service{Service: "web", Port: 80},
				Options: &queryv1.WriteOptions{},
			},
		},
		{
			name: "docs payload: lower-case tagged addresses, weights",
			body: `{"Node":"n1","Address":"a","Service":{"ID":"r1","Service":"redis","Weights":{"Passing":10,"Warning":1},
				"TaggedAddresses":{"lan":{"address":"127.0.0.1","port":8000}}}}`,
			want: &registryv1.RegisterRequest{
				Node: &registryv1.Node{Node: "n1", Address: "a"},
				Service: &registryv1.Service{Id: "r1", Service: "redis",
					Weights:         &registryv1.Weights{Passing: 10, Warning: 1},
					TaggedAddresses: map[string]*registryv1.ServiceAddress{"lan": {Address: "127.0.0.1", Port: 8000}}},
				Options: &queryv1.WriteOptions{},
			},
		},
		{
			name: "durations as strings and as nanoseconds; Checks then Check",
			body: `{"Node":"n1","Address":"a",
				"Check":{"CheckID":"b","Definition":{"Interval":10000000000,"Timeout":"1.5s","TTL":"30s"}},
				"Checks":[{"CheckID":"a","Definition":{"Interval":"1m30s","DeregisterCriticalServiceAfter":"0s"}}, null]}`,
			want: &registryv1.RegisterRequest{
				Node: &registryv1.Node{Node: "n1", Address: "a"},
				Checks: []*registryv1.Check{
					{CheckId: "a", Definition: &registryv1.CheckDefinition{Interval: "1m30s"}},
					{CheckId: "b", Definition: &registryv1.CheckDefinition{Interval: "10s", Timeout: "1.5s", Ttl: "30s"}},
				},
				Options: &queryv1.WriteOptions{},
			},
		},
		{
			name: "empty service address stays empty",
			body: `{"Node":"n1","Address":"10.0.0.1","Datacenter":"dc2","Service":{"Service":"web","Address":""}}`,
			want: &registryv1.RegisterRequest{
				Node:    &registryv1.Node{Node: "n1", Address: "10.0.0.1", Datacenter: "dc2"},
				Service: &registryv1.Service{Service: "web"},
				Options: &queryv1.WriteOptions{Datacenter: "dc2"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRegistration([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestDecodeRegistrationErrors(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"malformed JSON", `{"Node":`, "unexpected end of JSON input"},
		{"not an object", `[1]`, "cannot unmarshal array"},
		{"wrong type", `{"Node":"n","Service":{"Port":"80"}}`, "cannot unmarshal string"},
		{"bad duration string", `{"Check":{"Definition":{"Interval":"ten seconds"}}}`, `invalid duration "ten seconds"`},
		{"fractional nanoseconds", `{"Check":{"Definition":{"Timeout":1.5}}}`, "not a whole number"},
		{"duration of another type", `{"Check":{"Definition":{"Timeout":true}}}`, "invalid duration true"},
		{"port out of range", `{"Service":{"Service":"web","Port":70000}}`, "Service.Port 70000 out of range"},
		{"negative weights", `{"Service":{"Service":"web","Weights":{"Passing":-1}}}`, "Service.Weights out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRegistration([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeDeregistration(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *registryv1.DeregisterRequest
	}{
		{"whole node", `{"Datacenter":"dc1","Node":"t2.320"}`,
			&registryv1.DeregisterRequest{Node: "t2.320", Options: &queryv1.WriteOptions{Datacenter: "dc1"}}},
		{"a check", `{"Node":"t2.320","CheckID":"service:redis1","Namespace":"team-1"}`,
			&registryv1.DeregisterRequest{Node: "t2.320", CheckId: "service:redis1", Options: &queryv1.WriteOptions{}}},
		{"a service", `{"Node":"t2.320","ServiceID":"redis1","Address":"obsolete"}`,
			&registryv1.DeregisterRequest{Node: "t2.320", ServiceId: "redis1", Options: &queryv1.WriteOptions{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeDeregistration([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
	// What the Go client sends.
	body, _ := json.Marshal(&api.CatalogDeregistration{Node: "n1", Datacenter: "dc1", ServiceID: "web1"})
	got, err := DecodeDeregistration(body)
	if err != nil {
		t.Fatal(err)
	}
	want := &registryv1.DeregisterRequest{Node: "n1", ServiceId: "web1", Options: &queryv1.WriteOptions{Datacenter: "dc1"}}
	if !proto.Equal(got, want) {
		t.Errorf("api.CatalogDeregistration: got %v, want %v", got, want)
	}
	if _, err := DecodeDeregistration([]byte(`{"Node":1}`)); err == nil {
		t.Error("a number for Node decoded")
	}
}
