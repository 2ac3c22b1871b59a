package services

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hashicorp/consul/api"
)

func TestDecodeServices(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		want     []definition
		wantWarn []string
		wantErr  string
	}{
		{
			name: "snake case",
			data: `{"service": {
  "id": "web-1", "name": "web", "tags": ["v1"], "address": "10.0.0.5", "port": 8080,
  "meta": {"redis_version": "4.0", "Build-ID": "x"},
  "tagged_addresses": {"lan_ipv4": {"address": "10.0.0.5", "port": 8080}, "wan": {"address": "198.51.100.5", "port": 80}},
  "enable_tag_override": true,
  "weights": {"passing": 10, "warning": 1},
  "checks": [
    {"id": "web-http", "name": "HTTP", "http": "https://localhost:8443/health", "method": "POST",
     "header": {"X-Trace_ID": ["1"]}, "body": "{}", "tls_skip_verify": true, "tls_server_name": "web.local",
     "interval": "10s", "timeout": "1s", "deregister_critical_service_after": "90m",
     "success_before_passing": 2, "failures_before_critical": 3},
    {"check_id": "web-script", "args": ["/bin/check", "--fast"], "interval": "30s"},
    {"CheckID": "web-ttl", "TTL": "15s", "Notes": "heartbeat", "Status": "passing"},
    {"grpc": "localhost:9090/web", "grpc_use_tls": true, "interval": "5s"}
  ]
}}`,
			want: []definition{{path: "service", svc: &api.AgentServiceRegistration{
				ID: "web-1", Name: "web", Tags: []string{"v1"}, Address: "10.0.0.5", Port: 8080,
				Meta: map[string]string{"redis_version": "4.0", "Build-ID": "x"},
				TaggedAddresses: map[string]api.ServiceAddress{
					"lan_ipv4": {Address: "10.0.0.5", Port: 8080},
					"wan":      {Address: "198.51.100.5", Port: 80},
				},
				EnableTagOverride: true,
				Weights:           &api.AgentWeights{Passing: 10, Warning: 1},
				Checks: api.AgentServiceChecks{
					{CheckID: "web-http", Name: "HTTP", HTTP: "https://localhost:8443/health", Method: "POST",
						Header: map[string][]string{"X-Trace_ID": {"1"}}, Body: "{}", TLSSkipVerify: true, TLSServerName: "web.local",
						Interval: "10s", Timeout: "1s", DeregisterCriticalServiceAfter: "90m",
						SuccessBeforePassing: 2, FailuresBeforeCritical: 3},
					{CheckID: "web-script", Args: []string{"/bin/check", "--fast"}, Interval: "30s"},
					{CheckID: "web-ttl", TTL: "15s", Notes: "heartbeat", Status: "passing"},
					{GRPC: "localhost:9090/web", GRPCUseTLS: true, Interval: "5s"},
				},
			}}},
		},
		{
			name: "API case",
			data: `{"Service": {"ID": "web-1", "Name": "web", "EnableTagOverride": true,
  "Check": {"CheckID": "c", "ScriptArgs": ["true"], "Interval": "1s", "DeregisterCriticalServiceAfter": "1m"}}}`,
			want: []definition{{path: "Service", svc: &api.AgentServiceRegistration{
				ID: "web-1", Name: "web", EnableTagOverride: true,
				Check: &api.AgentServiceCheck{CheckID: "c", Args: []string{"true"}, Interval: "1s", DeregisterCriticalServiceAfter: "1m"},
			}}},
		},
		{
			name: "connect",
			data: `{"service": {"name": "web-proxy", "kind": "connect-proxy", "port": 21000,
  "proxy": {"destination_service_name": "web", "local_service_port": 8080,
    "config": {"protocol": "http", "envoy_extra_static_clusters_json": "{}"},
    "upstreams": [{"destination_name": "db", "local_bind_port": 9191, "config": {"connect_timeout_ms": 500}}]},
  "connect": {"sidecar_service": {"port": 20000}}}}`,
			want: []definition{{path: "service", svc: &api.AgentServiceRegistration{
				Kind: api.ServiceKindConnectProxy, Name: "web-proxy", Port: 21000,
				Proxy: &api.AgentServiceConnectProxyConfig{
					DestinationServiceName: "web", LocalServicePort: 8080,
					Config: map[string]any{"protocol": "http", "envoy_extra_static_clusters_json": "{}"},
					Upstreams: []api.Upstream{{DestinationName: "db", LocalBindPort: 9191,
						Config: map[string]any{"connect_timeout_ms": float64(500)}}},
				},
				Connect: &api.AgentServiceConnect{SidecarService: &api.AgentServiceRegistration{Port: 20000}},
			}}},
		},
		{
			name: "service and services, other keys ignored",
			data: `{"datacenter": "dc1", "services": [{"name": "b"}, {"name": "c"}], "service": {"name": "a"}}`,
			want: []definition{
				{path: "service", svc: &api.AgentServiceRegistration{Name: "a"}},
				{path: "services[0]", svc: &api.AgentServiceRegistration{Name: "b"}},
				{path: "services[1]", svc: &api.AgentServiceRegistration{Name: "c"}},
			},
		},
		{
			name: "service list and services object",
			data: `{"service": [{"name": "a"}, {"name": "b"}], "services": {"name": "c"}}`,
			want: []definition{
				{path: "service[0]", svc: &api.AgentServiceRegistration{Name: "a"}},
				{path: "service[1]", svc: &api.AgentServiceRegistration{Name: "b"}},
				{path: "services", svc: &api.AgentServiceRegistration{Name: "c"}},
			},
		},
		{
			name: "unknown fields",
			data: `{"service": {"name": "web", "token": "t", "socket_path": "/run/web.sock",
  "checks": [{"ttl": "1s", "service_id": "web", "os_service": "x"}]}}`,
			want: []definition{{path: "service", svc: &api.AgentServiceRegistration{
				Name: "web", SocketPath: "/run/web.sock", Checks: api.AgentServiceChecks{{TTL: "1s"}},
			}}},
			wantWarn: []string{
				"ignoring service.checks[0].os_service: not a field Tribune reads",
				"ignoring service.checks[0].service_id: not a field Tribune reads",
				"ignoring service.token: not a field Tribune reads",
			},
		},
		{name: "no services", data: `{}`,
			wantErr: `no "service" or "services" key: a service definition file looks like {"service": {"name": "web", "port": 8080}}`},
		{name: "null service", data: `{"service": null}`, wantErr: "service: expected a JSON object, got null"},
		{name: "number", data: `42`, wantErr: "expected a JSON object, got number"},
		{name: "tags not a list", data: `{"service": {"name": "web", "tags": "v1"}}`,
			wantErr: "service: Tags must be []string, not a JSON string"},
		{name: "nested type error", data: `{"service": {"name": "web", "check": {"interval": 10}}}`,
			wantErr: "service: Check.Interval must be string, not a JSON number"},
		{name: "syntax", data: "{\n\"service\": {\"name\": 'web'}}", wantErr: "line 2, column 21: invalid character '\\'' looking for beginning of value"},
		{name: "truncated", data: `{"service": {"name": "web"}`, wantErr: "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warns []string
			got, err := decodeServices([]byte(tt.data), func(msg string) { warns = append(warns, msg) })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(svcsOf(got), "", "  ")
				w, _ := json.MarshalIndent(svcsOf(tt.want), "", "  ")
				t.Errorf("services:\n%s\nwant:\n%s\n(paths %v, want %v)", g, w, pathsOf(got), pathsOf(tt.want))
			}
			if !reflect.DeepEqual(warns, tt.wantWarn) {
				t.Errorf("warnings = %q, want %q", warns, tt.wantWarn)
			}
		})
	}
}

func svcsOf(defs []definition) []*api.AgentServiceRegistration {
	var out []*api.AgentServiceRegistration
	for _, d := range defs {
		out = append(out, d.svc)
	}
	return out
}

func pathsOf(defs []definition) []string {
	var out []string
	for _, d := range defs {
		out = append(out, d.path)
	}
	return out
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"enable_tag_override": "enabletagoverride",
		"EnableTagOverride":   "enabletagoverride",
		"enableTagOverride":   "enabletagoverride",
		"tls-skip-verify":     "tlsskipverify",
		"ID":                  "id",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
