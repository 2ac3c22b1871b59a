package checks

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"default", func(*Config) {}, ""},
		{"test floors", func(c *Config) { c.MinInterval, c.MinDeregisterCriticalServiceAfter = 0, 0 }, ""},
		{"no probes", func(c *Config) { c.MaxConcurrentProbes = 0 }, "MaxConcurrentProbes must be at least 1 (got 0)"},
		{"negative interval", func(c *Config) { c.MinInterval = -time.Second }, "MinInterval must not be negative"},
		{"negative deregister", func(c *Config) { c.MinDeregisterCriticalServiceAfter = -1 }, "MinDeregisterCriticalServiceAfter must not be negative"},
		{"no output", func(c *Config) { c.OutputMaxSize = 0 }, "OutputMaxSize must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mod(&cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := NewRunner(Config{}, func(string, string, string) {}, nil); err == nil {
		t.Error("NewRunner accepted the zero Config")
	}
	if _, err := NewRunner(DefaultConfig(), nil, nil); err == nil {
		t.Error("NewRunner accepted a nil report function")
	}
}

func TestValidateDefinition(t *testing.T) {
	sec := dur(time.Second)
	scripts := DefaultConfig()
	scripts.EnableScriptChecks = true
	tests := []struct {
		name      string
		def       *agentv1.CheckDefinition
		cfg       Config
		wantErr   string // the whole message; "" for valid
		wantField string
		wantIs    error
		wantType  string
	}{
		{name: "ttl", def: &agentv1.CheckDefinition{Name: "web", Ttl: dur(15 * time.Second)}, wantType: "ttl"},
		{name: "http", def: &agentv1.CheckDefinition{Name: "web", Http: "http://127.0.0.1:8080/health", Interval: sec}, wantType: "http"},
		{name: "https post", def: &agentv1.CheckDefinition{Name: "web", Http: "https://localhost/health", Method: "POST", Body: "{}", Interval: sec,
			Header: map[string]*registryv1.HeaderValues{"X-A": {Values: []string{"b"}}}}, wantType: "http"},
		{name: "tcp", def: &agentv1.CheckDefinition{CheckId: "db", Tcp: "localhost:5432", Interval: sec, Timeout: sec}, wantType: "tcp"},
		{name: "grpc", def: &agentv1.CheckDefinition{Name: "g", Grpc: "127.0.0.1:9000", Interval: sec}, wantType: "grpc"},
		{name: "grpc service", def: &agentv1.CheckDefinition{Name: "g", Grpc: "127.0.0.1:9000/my.Service", Interval: sec, GrpcUseTls: true}, wantType: "grpc"},
		{name: "script enabled", def: &agentv1.CheckDefinition{Name: "mem", Args: []string{"/bin/true"}, Interval: sec}, cfg: scripts, wantType: "script"},
		{name: "thresholds", def: &agentv1.CheckDefinition{Name: "web", Tcp: "a:1", Interval: sec, SuccessBeforePassing: 3, FailuresBeforeCritical: 2,
			DeregisterCriticalServiceAfter: dur(time.Minute), Status: Passing}, wantType: "tcp"},

		{name: "nil", def: nil, wantErr: "check: no definition"},
		{name: "no id", def: &agentv1.CheckDefinition{Tcp: "a:1", Interval: sec}, wantErr: "check: check_id or name must be set", wantField: "name"},
		{name: "no kind", def: &agentv1.CheckDefinition{Name: "web"}, wantErr: `check "web": one of ttl, http, tcp, grpc or args must be set`},
		{name: "two kinds", def: &agentv1.CheckDefinition{CheckId: "web", Http: "http://a/", Tcp: "a:1", Interval: sec},
			wantErr: `check "web": only one of ttl, http, tcp, grpc or args may be set (got http and tcp)`},
		{name: "ttl and interval", def: &agentv1.CheckDefinition{Name: "web", Ttl: sec, Interval: sec},
			wantErr: `check "web": interval cannot be set for a TTL check`, wantField: "interval"},
		{name: "zero ttl", def: &agentv1.CheckDefinition{Name: "web", Ttl: dur(0)}, wantErr: `check "web": ttl must be positive for a TTL check`, wantField: "ttl"},
		{name: "negative ttl", def: &agentv1.CheckDefinition{Name: "web", Ttl: dur(-time.Second)}, wantErr: `check "web": ttl must not be negative (got -1s)`, wantField: "ttl"},
		{name: "http without interval", def: &agentv1.CheckDefinition{Name: "web", Http: "http://a/"},
			wantErr: `check "web": interval must be set for an HTTP check`, wantField: "interval"},
		{name: "tcp without interval", def: &agentv1.CheckDefinition{Name: "web", Tcp: "a:1"},
			wantErr: `check "web": interval must be set for a TCP check`, wantField: "interval"},
		{name: "grpc without interval", def: &agentv1.CheckDefinition{Name: "web", Grpc: "a:1"},
			wantErr: `check "web": interval must be set for a gRPC check`, wantField: "interval"},
		{name: "script without interval", def: &agentv1.CheckDefinition{Name: "web", Args: []string{"true"}}, cfg: scripts,
			wantErr: `check "web": interval must be set for a script check`, wantField: "interval"},
		{name: "negative interval", def: &agentv1.CheckDefinition{Name: "web", Tcp: "a:1", Interval: dur(-time.Second)},
			wantErr: `check "web": interval must not be negative (got -1s)`, wantField: "interval"},
		{name: "invalid duration", def: &agentv1.CheckDefinition{Name: "web", Tcp: "a:1", Interval: &durationpb.Duration{Seconds: 1, Nanos: -1}},
			wantErr: `check "web": interval is not a valid duration`, wantField: "interval"},
		{name: "negative timeout", def: &agentv1.CheckDefinition{Name: "web", Tcp: "a:1", Interval: sec, Timeout: dur(-time.Second)},
			wantErr: `check "web": timeout must not be negative (got -1s)`, wantField: "timeout"},
		{name: "negative success_before_passing", def: &agentv1.CheckDefinition{Name: "web", Tcp: "a:1", Interval: sec, SuccessBeforePassing: -1},
			wantErr: `check "web": success_before_passing must not be negative (got -1)`, wantField: "success_before_passing"},
		{name: "negative failures_before_critical", def: &agentv1.CheckDefinition{Name: "web", Tcp: "a:1", Interval: sec, FailuresBeforeCritical: -2},
			wantErr: `check "web": failures_before_critical must not be negative (got -2)`, wantField: "failures_before_critical"},
		{name: "negative deregister", def: &agentv1.CheckDefinition{Name: "web", Tcp: "a:1", Interval: sec, DeregisterCriticalServiceAfter: dur(-time.Minute)},
			wantErr: `check "web": deregister_critical_service_after must not be negative (got -1m0s)`, wantField: "deregister_critical_service_after"},
		{name: "bad status", def: &agentv1.CheckDefinition{Name: "web", Ttl: sec, Status: "ok"},
			wantErr: `check "web": status must be passing, warning or critical (got "ok")`, wantField: "status"},
		{name: "url without scheme", def: &agentv1.CheckDefinition{Name: "web", Http: "localhost:8080/health", Interval: sec},
			wantErr: `check "web": http must be an http:// or https:// URL (got "localhost:8080/health")`, wantField: "http"},
		{name: "bad method", def: &agentv1.CheckDefinition{Name: "web", Http: "http://a/", Method: "GE T", Interval: sec},
			wantErr: `check "web": method "GE T" is not a valid HTTP method`, wantField: "method"},
		{name: "tcp without port", def: &agentv1.CheckDefinition{Name: "web", Tcp: "localhost", Interval: sec},
			wantErr: `check "web": tcp must be host:port (got "localhost")`, wantField: "tcp"},
		{name: "grpc without port", def: &agentv1.CheckDefinition{Name: "web", Grpc: "localhost/svc", Interval: sec},
			wantErr: `check "web": grpc must be host:port or host:port/service (got "localhost/svc")`, wantField: "grpc"},
		{name: "script disabled", def: &agentv1.CheckDefinition{Name: "mem", Args: []string{"/bin/true"}, Interval: sec},
			wantErr: `check "mem": script checks are disabled on this agent; to enable, configure enable_script_checks`, wantField: "args", wantIs: ErrScriptChecksDisabled},
		{name: "script empty command", def: &agentv1.CheckDefinition{Name: "mem", Args: []string{""}, Interval: sec}, cfg: scripts,
			wantErr: `check "mem": args must start with the command to run`, wantField: "args"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.MaxConcurrentProbes == 0 {
				cfg = DefaultConfig()
			}
			err := ValidateDefinition(tt.def, cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateDefinition() = %v, want nil", err)
				}
				if got := Type(tt.def); got != tt.wantType {
					t.Errorf("Type() = %q, want %q", got, tt.wantType)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateDefinition() = %v, want %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidDefinition) {
				t.Errorf("errors.Is(%v, ErrInvalidDefinition) = false", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			var de *DefinitionError
			if !errors.As(err, &de) || de.Field != tt.wantField {
				t.Errorf("field = %+v, want %q", de, tt.wantField)
			}
			// NewProbe and Runner.Add refuse the same definitions.
			if _, perr := NewProbe(tt.def, cfg); perr == nil || perr.Error() != err.Error() {
				t.Errorf("NewProbe() = %v, want %v", perr, err)
			}
		})
	}
}

func TestNewProbeRefusesTTL(t *testing.T) {
	_, err := NewProbe(&agentv1.CheckDefinition{Name: "web", Ttl: dur(time.Second)}, DefaultConfig())
	if err == nil || !strings.Contains(err.Error(), "TTL check has no probe") {
		t.Fatalf("NewProbe(ttl) = %v", err)
	}
}
