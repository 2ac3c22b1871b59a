package httpapi

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tribune/tribune/lib/agentdef"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// The bodies Consul's Go client sends, marshalled from its own types,
// read by lib/agentdef as the agent endpoints read them. (The test lives
// here, where github.com/hashicorp/consul/api already is a dependency, to
// keep it out of lib's.)

func d(x time.Duration) *durationpb.Duration { return durationpb.New(x) }

func TestAgentDefinitionsFromConsulClient(t *testing.T) {
	full := &api.AgentServiceRegistration{
		ID: "web-1", Name: "web", Tags: []string{"v1"}, Port: 8080, Address: "10.0.0.1",
		TaggedAddresses:   map[string]api.ServiceAddress{"wan": {Address: "1.2.3.4", Port: 80}},
		EnableTagOverride: true, Meta: map[string]string{"version": "1"},
		Weights: &api.AgentWeights{Passing: 10, Warning: 1},
		Check: &api.AgentServiceCheck{CheckID: "web-ttl", TTL: "15s", Status: api.HealthPassing, Notes: "n",
			DeregisterCriticalServiceAfter: "90m"},
		Checks: api.AgentServiceChecks{
			{Name: "http", HTTP: "https://10.0.0.1:8080/health", Method: "HEAD", Header: map[string][]string{"X-A": {"1", "2"}},
				Body: "b", Interval: "10s", Timeout: "2s", TLSSkipVerify: true, SuccessBeforePassing: 2, FailuresBeforeCritical: 3},
			{TCP: "10.0.0.1:8080", Interval: "5s"},
			{GRPC: "10.0.0.1:9090/web", GRPCUseTLS: true, Interval: "5s"},
			{Args: []string{"/bin/check", "-q"}, Interval: "1m"},
		},
		Connect:   &api.AgentServiceConnect{Native: true},
		Namespace: "default",
	}
	svc := func(c ...*agentv1.CheckDefinition) *agentv1.ServiceDefinition {
		return &agentv1.ServiceDefinition{
			Id: "web-1", Name: "web", Tags: []string{"v1"}, Port: 8080, Address: "10.0.0.1",
			TaggedAddresses:   map[string]*registryv1.ServiceAddress{"wan": {Address: "1.2.3.4", Port: 80}},
			EnableTagOverride: true, Meta: map[string]string{"version": "1"},
			Weights: &registryv1.Weights{Passing: 10, Warning: 1},
			Checks:  c,
		}
	}
	name := "Service 'web' check"
	services := []struct {
		name string
		reg  *api.AgentServiceRegistration
		want *agentv1.ServiceDefinition
	}{
		{"every check kind", full, svc(
			&agentv1.CheckDefinition{CheckId: "web-ttl", Name: name, ServiceId: "web-1", Status: "passing", Notes: "n",
				Ttl: d(15 * time.Second), DeregisterCriticalServiceAfter: d(90 * time.Minute)},
			&agentv1.CheckDefinition{CheckId: "service:web-1:2", Name: "http", ServiceId: "web-1",
				Http: "https://10.0.0.1:8080/health", Method: "HEAD",
				Header: map[string]*registryv1.HeaderValues{"X-A": {Values: []string{"1", "2"}}}, Body: "b",
				Interval: d(10 * time.Second), Timeout: d(2 * time.Second), TlsSkipVerify: true,
				SuccessBeforePassing: 2, FailuresBeforeCritical: 3},
			&agentv1.CheckDefinition{CheckId: "service:web-1:3", Name: name, ServiceId: "web-1", Tcp: "10.0.0.1:8080", Interval: d(5 * time.Second)},
			&agentv1.CheckDefinition{CheckId: "service:web-1:4", Name: name, ServiceId: "web-1", Grpc: "10.0.0.1:9090/web", GrpcUseTls: true, Interval: d(5 * time.Second)},
			&agentv1.CheckDefinition{CheckId: "service:web-1:5", Name: name, ServiceId: "web-1", Args: []string{"/bin/check", "-q"}, Interval: d(time.Minute)},
		)},
		{"name only", &api.AgentServiceRegistration{Name: "api"}, &agentv1.ServiceDefinition{Id: "api", Name: "api"}},
		{"one check", &api.AgentServiceRegistration{Name: "api", Check: &api.AgentServiceCheck{TTL: "1s"}},
			&agentv1.ServiceDefinition{Id: "api", Name: "api", Checks: []*agentv1.CheckDefinition{
				{CheckId: "service:api", Name: "Service 'api' check", ServiceId: "api", Ttl: d(time.Second)}}}},
	}
	for _, tt := range services {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(tt.reg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := agentdef.DecodeServiceRegistration(body)
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("%s\ngot  %s\nwant %s", body, prototext.Format(got), prototext.Format(tt.want))
			}
		})
	}

	checks := []struct {
		name string
		reg  *api.AgentCheckRegistration
		want *agentv1.CheckDefinition
	}{
		{"TTL of a service", &api.AgentCheckRegistration{ID: "c1", Name: "ttl", Notes: "n", ServiceID: "web-1",
			AgentServiceCheck: api.AgentServiceCheck{TTL: "30s", Status: api.HealthWarning}},
			&agentv1.CheckDefinition{CheckId: "c1", Name: "ttl", Notes: "n", ServiceId: "web-1", Status: "warning", Ttl: d(30 * time.Second)}},
		{"ID defaults to the name", &api.AgentCheckRegistration{Name: "disk",
			AgentServiceCheck: api.AgentServiceCheck{Args: []string{"/bin/df"}, Interval: "1m", Timeout: "5s"}},
			&agentv1.CheckDefinition{CheckId: "disk", Name: "disk", Args: []string{"/bin/df"}, Interval: d(time.Minute), Timeout: d(5 * time.Second)}},
		{"HTTP", &api.AgentCheckRegistration{ID: "h", Name: "h",
			AgentServiceCheck: api.AgentServiceCheck{HTTP: "http://localhost/", Interval: "3s", DeregisterCriticalServiceAfter: "1m"}},
			&agentv1.CheckDefinition{CheckId: "h", Name: "h", Http: "http://localhost/", Interval: d(3 * time.Second),
				DeregisterCriticalServiceAfter: d(time.Minute)}},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(tt.reg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := agentdef.DecodeCheckRegistration(body)
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("%s\ngot  %s\nwant %s", body, prototext.Format(got), prototext.Format(tt.want))
			}
		})
	}

	// Check kinds Tribune does not run are refused, not silently dropped.
	for _, c := range []api.AgentServiceCheck{
		{H2PING: "localhost:443", Interval: "10s"},
		{UDP: "localhost:53", Interval: "10s"},
		{AliasService: "db"},
		{DockerContainerID: "f00", Args: []string{"true"}, Interval: "10s"},
	} {
		body, err := json.Marshal(&api.AgentServiceRegistration{Name: "x", Check: &c})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := agentdef.DecodeServiceRegistration(body); !errors.Is(err, agentdef.ErrInvalid) {
			t.Errorf("%s: %v, want refused", body, err)
		}
	}
}
