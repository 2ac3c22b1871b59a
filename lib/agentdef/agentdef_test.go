package agentdef

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// wantErr describes an expected error: its exact text and whether it is
// a decode failure (ErrMalformed) rather than a refused definition.
type wantErr struct {
	msg       string
	malformed bool
}

func checkErr(t *testing.T, err error, want wantErr) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want.msg)
	}
	if err.Error() != want.msg {
		t.Errorf("error %q\n      want %q", err.Error(), want.msg)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %q does not wrap ErrInvalid", err)
	}
	if got := errors.Is(err, ErrMalformed); got != want.malformed {
		t.Errorf("errors.Is(%q, ErrMalformed) = %v, want %v", err, got, want.malformed)
	}
}

func checkProto(t *testing.T, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("got  %s\nwant %s", prototext.Format(got), prototext.Format(want))
	}
}

func TestDecodeServiceRegistration(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *agentv1.ServiceDefinition
	}{
		{
			name: "name only: the ID is the name",
			body: `{"Name":"web"}`,
			want: &agentv1.ServiceDefinition{Id: "web", Name: "web"},
		},
		{
			// What api.AgentServiceRegistration marshals to, with the
			// fields Tribune does not keep (Connect, Namespace, ...).
			name: "Go client body",
			body: `{"ID":"web-1","Name":"web","Tags":["v1","primary"],"Port":8080,"Address":"10.0.0.1",
				"TaggedAddresses":{"lan":{"Address":"10.0.0.1","Port":8080},"wan_ipv4":{"Address":"1.2.3.4","Port":80}},
				"EnableTagOverride":true,"Meta":{"version":"1","Some_Key":"x"},"Weights":{"Passing":10,"Warning":1},
				"Check":{"CheckID":"web-ttl","TTL":"15s","Status":"passing","Notes":"n","DeregisterCriticalServiceAfter":"90m"},
				"Checks":null,"Connect":{"Native":false},"Namespace":"","Proxy":null,"Locality":{"Region":"r"}}`,
			want: &agentv1.ServiceDefinition{
				Id: "web-1", Name: "web", Tags: []string{"v1", "primary"}, Port: 8080, Address: "10.0.0.1",
				TaggedAddresses: map[string]*registryv1.ServiceAddress{
					"lan":      {Address: "10.0.0.1", Port: 8080},
					"wan_ipv4": {Address: "1.2.3.4", Port: 80},
				},
				EnableTagOverride: true,
				Meta:              map[string]string{"version": "1", "Some_Key": "x"},
				Weights:           &registryv1.Weights{Passing: 10, Warning: 1},
				Checks: []*agentv1.CheckDefinition{{
					CheckId: "web-ttl", Name: "Service 'web' check", Notes: "n", ServiceId: "web-1", Status: "passing",
					Ttl: dur(15 * time.Second), DeregisterCriticalServiceAfter: dur(90 * time.Minute),
				}},
			},
		},
		{
			name: "one check: service:<id>",
			body: `{"ID":"api-1","Name":"api","Check":{"HTTP":"http://127.0.0.1:8080/health","Interval":"10s","Timeout":"1s",
				"Method":"POST","Header":{"X-Token":["a","b"]},"Body":"{}","TLSSkipVerify":true}}`,
			want: &agentv1.ServiceDefinition{Id: "api-1", Name: "api", Checks: []*agentv1.CheckDefinition{{
				CheckId: "service:api-1", Name: "Service 'api' check", ServiceId: "api-1",
				Http: "http://127.0.0.1:8080/health", Interval: dur(10 * time.Second), Timeout: dur(time.Second),
				Method: "POST", Header: map[string]*registryv1.HeaderValues{"X-Token": {Values: []string{"a", "b"}}},
				Body: "{}", TlsSkipVerify: true,
			}}},
		},
		{
			name: "several checks: service:<id>:<n>, Check first, given IDs kept",
			body: `{"Name":"db","Check":{"TTL":"30s"},
				"Checks":[{"TCP":"127.0.0.1:5432","Interval":"5s"},{"CheckID":"db-grpc","Name":"grpc","GRPC":"127.0.0.1:9000/db","GRPCUseTLS":true,"Interval":"5s"}]}`,
			want: &agentv1.ServiceDefinition{Id: "db", Name: "db", Checks: []*agentv1.CheckDefinition{
				{CheckId: "service:db:1", Name: "Service 'db' check", ServiceId: "db", Ttl: dur(30 * time.Second)},
				{CheckId: "service:db:2", Name: "Service 'db' check", ServiceId: "db", Tcp: "127.0.0.1:5432", Interval: dur(5 * time.Second)},
				{CheckId: "db-grpc", Name: "grpc", ServiceId: "db", Grpc: "127.0.0.1:9000/db", GrpcUseTls: true, Interval: dur(5 * time.Second)},
			}},
		},
		{
			name: "snake_case and lower-case keys, numeric durations, script args",
			body: `{"name":"redis","id":"redis1","port":6379,"enable_tag_override":true,
				"tagged_addresses":{"lan":{"address":"10.0.0.2","port":6379}},"weights":{"passing":3,"warning":2},
				"checks":[{"args":["/usr/local/bin/check_redis.py","-p","6379"],"interval":10000000000,"timeout":1e9,
				"deregister_critical_service_after":"1m","success_before_passing":2,"failures_before_critical":3,
				"check_id":"redis-script","service_id":"ignored"}]}`,
			want: &agentv1.ServiceDefinition{
				Id: "redis1", Name: "redis", Port: 6379, EnableTagOverride: true,
				TaggedAddresses: map[string]*registryv1.ServiceAddress{"lan": {Address: "10.0.0.2", Port: 6379}},
				Weights:         &registryv1.Weights{Passing: 3, Warning: 2},
				Checks: []*agentv1.CheckDefinition{{
					CheckId: "redis-script", Name: "Service 'redis' check", ServiceId: "redis1",
					Args:     []string{"/usr/local/bin/check_redis.py", "-p", "6379"},
					Interval: dur(10 * time.Second), Timeout: dur(time.Second),
					DeregisterCriticalServiceAfter: dur(time.Minute), SuccessBeforePassing: 2, FailuresBeforeCritical: 3,
				}},
			},
		},
		{
			name: "ScriptArgs as the Go client writes them",
			body: `{"Name":"s","Check":{"ScriptArgs":["/bin/true"],"Interval":"1m","tls_skip_verify":true}}`,
			want: &agentv1.ServiceDefinition{Id: "s", Name: "s", Checks: []*agentv1.CheckDefinition{{
				CheckId: "service:s", Name: "Service 's' check", ServiceId: "s",
				Args: []string{"/bin/true"}, Interval: dur(time.Minute), TlsSkipVerify: true,
			}}},
		},
		{
			name: "empty and null checks are dropped",
			body: `{"Name":"web","Check":{},"Checks":[null,{"TTL":"1s"}]}`,
			want: &agentv1.ServiceDefinition{Id: "web", Name: "web", Checks: []*agentv1.CheckDefinition{
				{CheckId: "service:web", Name: "Service 'web' check", ServiceId: "web", Ttl: dur(time.Second)},
			}},
		},
		{
			name: "empty duration strings are no duration; null is absent",
			body: `{"Name":"web","Port":null,"Check":{"TTL":"10s","Interval":"","Timeout":null}}`,
			want: &agentv1.ServiceDefinition{Id: "web", Name: "web", Checks: []*agentv1.CheckDefinition{
				{CheckId: "service:web", Name: "Service 'web' check", ServiceId: "web", Ttl: dur(10 * time.Second)},
			}},
		},
		{
			name: "the later of two spellings counts",
			body: `{"Name":"a","name":"b"}`,
			want: &agentv1.ServiceDefinition{Id: "b", Name: "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeServiceRegistration([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			checkProto(t, got, tt.want)
		})
	}
}

func TestDecodeServiceRegistrationErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       wantErr
	}{
		{"no name", `{"ID":"x"}`, wantErr{"Missing service name", false}},
		{"empty object", `{}`, wantErr{"Missing service name", false}},
		{"the name before the checks, as in Consul", `{"Check":{"HTTP":"http://x","H2PING":"y"}}`, wantErr{"Missing service name", false}},
		{"a check's kind before its status, as in Consul", `{"Name":"web","Checks":[{"TTL":"1s","Status":"up"},{"HTTP":"http://x"}]}`,
			wantErr{"Invalid check: Checks[1]: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks", false}},
		{"truncated", `{"Name":`, wantErr{"unexpected end of JSON input", true}},
		{"empty body", ``, wantErr{"unexpected end of JSON input", true}},
		{"not an object", `["web"]`, wantErr{"want a JSON object, got an array", true}},
		{"trailing garbage", `{"Name":"web"} x`, wantErr{"invalid character after top-level value", true}},
		{"port as a string", `{"Name":"web","Port":"80"}`, wantErr{"Port: json: cannot unmarshal string into Go value of type int", true}},
		{"tags as a string", `{"Name":"web","tags":"v1"}`, wantErr{"tags: json: cannot unmarshal string into Go value of type []string", true}},
		{"negative port", `{"Name":"web","Port":-1}`, wantErr{"Invalid service port: -1 (must be 0-65535)", false}},
		{"port too large", `{"Name":"web","Port":65536}`, wantErr{"Invalid service port: 65536 (must be 0-65535)", false}},
		{"tagged port", `{"Name":"web","TaggedAddresses":{"lan":{"Address":"a","Port":-2}}}`,
			wantErr{`Invalid service port for TaggedAddresses["lan"]: -2 (must be 0-65535)`, false}},
		{"any address", `{"Name":"web","Address":"0.0.0.0"}`, wantErr{"Invalid service address", false}},
		{"any IPv6 address", `{"Name":"web","Address":"[::]"}`, wantErr{"Invalid service address", false}},
		{"zero passing weight", `{"Name":"web","Weights":{"Passing":0,"Warning":1}}`, wantErr{"Invalid Weights: Passing must be greater than 0", false}},
		{"negative warning weight", `{"Name":"web","Weights":{"Passing":1,"Warning":-1}}`, wantErr{"Invalid Weights: Warning must be greater or equal than 0", false}},
		{"weight too large", `{"Name":"web","Weights":{"Passing":70000}}`, wantErr{"Invalid Weights: DNS Weight must be between 0 and 65535", false}},
		{"reserved meta key", `{"Name":"web","Meta":{"consul-version":"1"}}`,
			wantErr{"Invalid Service Meta: Couldn't load metadata pair ('consul-version', '1'): Key prefix 'consul-' is reserved for internal use", false}},
		{"bad meta key", `{"Name":"web","Meta":{"a.b":"1"}}`,
			wantErr{"Invalid Service Meta: Couldn't load metadata pair ('a.b', '1'): Key contains invalid characters", false}},
		{"bad duration", `{"Name":"web","Check":{"TTL":"5x"}}`, wantErr{`Invalid duration for Check.TTL: time: unknown unit "x" in duration "5x"`, true}},
		{"bad duration in Checks", `{"Name":"web","Checks":[{"TTL":"1s"},{"HTTP":"h","Interval":"often"}]}`,
			wantErr{`Invalid duration for Checks[1].Interval: time: invalid duration "often"`, true}},
		{"fractional nanoseconds", `{"Name":"web","Check":{"TTL":1.5}}`, wantErr{"Invalid duration for Check.TTL: 1.5 is not a whole number of nanoseconds", true}},
		{"duration of the wrong type", `{"Name":"web","Check":{"TTL":true}}`,
			wantErr{`Invalid duration for Check.TTL: want a string such as "10s" or a number of nanoseconds, got a boolean`, true}},
		{"negative duration", `{"Name":"web","Check":{"TTL":"-5s"}}`, wantErr{"Invalid duration for Check.TTL: -5s is negative", false}},
		{"two kinds", `{"Name":"web","Checks":[{"HTTP":"http://x","TCP":"x:1","Interval":"10s"}]}`,
			wantErr{"Invalid check: Checks[0]: only one of TTL, HTTP, TCP, GRPC or Args may be given, got HTTP and TCP", false}},
		{"HTTP without interval", `{"Name":"web","Check":{"HTTP":"http://x"}}`,
			wantErr{"Invalid check: Check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks", false}},
		{"TTL and interval", `{"Name":"web","Check":{"TTL":"10s","Interval":"10s"}}`,
			wantErr{"Invalid check: Check: Interval and TTL cannot both be specified", false}},
		{"neither TTL nor a probe", `{"Name":"web","Check":{"Notes":"n"}}`, wantErr{"Invalid check: Check: TTL must be > 0 for TTL checks", false}},
		{"bad status", `{"Name":"web","Check":{"TTL":"10s","Status":"bogus"}}`,
			wantErr{`Status for checks must 'passing', 'warning', 'critical': Check.Status is "bogus"`, false}},
		{"unsupported kind", `{"Name":"web","Check":{"H2PING":"localhost:443","Interval":"10s"}}`,
			wantErr{"Invalid check: Check: H2PING checks are not supported", false}},
		{"alias check", `{"Name":"web","Checks":[{"alias_service":"db"}]}`,
			wantErr{"Invalid check: Checks[0]: alias checks are not supported", false}},
		{"negative threshold", `{"Name":"web","Check":{"TTL":"1s","SuccessBeforePassing":-1}}`,
			wantErr{"Invalid check: Check.SuccessBeforePassing must be 0 or more, got -1", false}},
		{"check not an object", `{"Name":"web","Check":"ttl"}`, wantErr{"Check: want an object or an array of objects, got a string", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeServiceRegistration([]byte(tt.body))
			if got != nil {
				t.Errorf("got %v with the error", got)
			}
			checkErr(t, err, tt.want)
		})
	}
}

func TestDecodeCheckRegistration(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *agentv1.CheckDefinition
	}{
		{"name only TTL: the ID is the name", `{"Name":"mem","TTL":"30s"}`,
			&agentv1.CheckDefinition{CheckId: "mem", Name: "mem", Ttl: dur(30 * time.Second)}},
		{
			// api.AgentCheckRegistration: ID, Name, Notes, ServiceID and
			// the embedded AgentServiceCheck's fields, flattened.
			"Go client body",
			`{"ID":"api-http","Name":"API","Notes":"n","ServiceID":"api-1","HTTP":"https://localhost:5000/health",
				"Method":"POST","Header":{"Content-Type":["application/json"]},"Body":"{\"method\":\"health\"}",
				"Interval":"10s","Timeout":"1s","TLSSkipVerify":true,"Status":"warning","DeregisterCriticalServiceAfter":"30m"}`,
			&agentv1.CheckDefinition{
				CheckId: "api-http", Name: "API", Notes: "n", ServiceId: "api-1", Status: "warning",
				Http: "https://localhost:5000/health", Method: "POST",
				Header:   map[string]*registryv1.HeaderValues{"Content-Type": {Values: []string{"application/json"}}},
				Body:     `{"method":"health"}`,
				Interval: dur(10 * time.Second), Timeout: dur(time.Second), TlsSkipVerify: true,
				DeregisterCriticalServiceAfter: dur(30 * time.Minute),
			},
		},
		{"CheckID when there is no ID", `{"CheckID":"c2","Name":"x","TTL":"1s"}`,
			&agentv1.CheckDefinition{CheckId: "c2", Name: "x", Ttl: dur(time.Second)}},
		{"ID over CheckID", `{"ID":"c1","CheckID":"c2","Name":"x","TTL":"1s"}`,
			&agentv1.CheckDefinition{CheckId: "c1", Name: "x", Ttl: dur(time.Second)}},
		{"snake_case", `{"name":"disk","service_id":"web","args":["/bin/df","-h"],"interval":"1m","grpc_use_tls":false}`,
			&agentv1.CheckDefinition{CheckId: "disk", Name: "disk", ServiceId: "web", Args: []string{"/bin/df", "-h"}, Interval: dur(time.Minute)}},
		{"gRPC", `{"Name":"g","GRPC":"127.0.0.1:9000/svc","GRPCUseTLS":true,"Interval":"5s"}`,
			&agentv1.CheckDefinition{CheckId: "g", Name: "g", Grpc: "127.0.0.1:9000/svc", GrpcUseTls: true, Interval: dur(5 * time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCheckRegistration([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			checkProto(t, got, tt.want)
		})
	}
}

func TestDecodeCheckRegistrationErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       wantErr
	}{
		{"no name", `{"ID":"x","TTL":"1s"}`, wantErr{"Missing check name", false}},
		{"bad status", `{"Name":"x","TTL":"1s","Status":"maintenance"}`, wantErr{`Bad check status: "maintenance"`, false}},
		{"no kind", `{"Name":"x"}`, wantErr{"Invalid check: TTL must be > 0 for TTL checks", false}},
		{"args and TTL", `{"Name":"x","TTL":"1s","Args":["true"]}`, wantErr{"Invalid check: only one of TTL, HTTP, TCP, GRPC or Args may be given, got TTL and Args", false}},
		{"Docker", `{"Name":"x","DockerContainerID":"f00","Args":["true"],"Interval":"1s"}`, wantErr{"Invalid check: Docker checks are not supported", false}},
		{"bad interval", `{"Name":"x","TCP":"a:1","Interval":"5x"}`, wantErr{`Invalid duration for Interval: time: unknown unit "x" in duration "5x"`, true}},
		{"header of the wrong shape", `{"Name":"x","TTL":"1s","Header":{"a":"b"}}`,
			wantErr{"Header: json: cannot unmarshal string into Go value of type []string", true}},
		{"malformed", `{"Name":"x",}`, wantErr{"invalid character '}' looking for beginning of object key string", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCheckRegistration([]byte(tt.body))
			checkErr(t, err, tt.want)
		})
	}
}

func TestDecodeCheckUpdate(t *testing.T) {
	tests := []struct {
		name, body string
		want       *agentv1.UpdateCheckRequest
		err        wantErr
	}{
		{"passing", `{"Status":"passing","Output":"ok"}`, &agentv1.UpdateCheckRequest{Status: "passing", Output: "ok"}, wantErr{}},
		{"lower case, no output", `{"status":"warning"}`, &agentv1.UpdateCheckRequest{Status: "warning"}, wantErr{}},
		{"critical", `{"Status":"critical","Output":"` + strings.Repeat("x", 5000) + `"}`,
			&agentv1.UpdateCheckRequest{Status: "critical", Output: strings.Repeat("x", 5000)}, wantErr{}},
		{"bad status", `{"Status":"bogus"}`, nil, wantErr{"Invalid check status: 'bogus'", false}},
		{"no status", `{"Output":"x"}`, nil, wantErr{"Invalid check status: ''", false}},
		{"malformed", `{"Status":1}`, nil, wantErr{"Status: json: cannot unmarshal number into Go value of type string", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCheckUpdate([]byte(tt.body))
			if tt.want == nil {
				checkErr(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkProto(t, got, tt.want)
		})
	}
}
