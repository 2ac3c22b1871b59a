package agentdef

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func serviceIDs(d *Definitions) []string {
	var out []string
	for _, s := range d.Services {
		out = append(out, s.Id)
	}
	return out
}

func checkIDs(d *Definitions) []string {
	var out []string
	for _, c := range d.Checks {
		out = append(out, c.CheckId)
	}
	return out
}

func TestDecodeFile(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		services []string
		checks   []string
	}{
		{"service", `{"service":{"name":"web"}}`, []string{"web"}, nil},
		{"services", `{"services":[{"name":"web","id":"web1"},{"name":"web","id":"web2"}]}`, []string{"web1", "web2"}, nil},
		{"service as a list", `{"service":[{"name":"a"},{"name":"b"}]}`, []string{"a", "b"}, nil},
		{"check", `{"check":{"name":"mem","ttl":"30s"}}`, nil, []string{"mem"}},
		{"checks", `{"checks":[{"id":"c1","name":"one","ttl":"1s"},{"name":"two","tcp":"localhost:22","interval":"10s"}]}`, nil, []string{"c1", "two"}},
		{"PascalCase, as consul services register reads", `{"Service":{"Name":"web"}}`, []string{"web"}, nil},
		{"all together, agent settings ignored", `{"datacenter":"dc1","server":true,
			"service":{"name":"web"},"services":[{"name":"db"}],"check":{"name":"c","ttl":"1s"},"checks":[{"name":"d","ttl":"1s"}]}`,
			[]string{"web", "db"}, []string{"c", "d"}},
		{"nothing", `{"datacenter":"dc1"}`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := DecodeFile("x.json", []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := serviceIDs(d); !slices.Equal(got, tt.services) {
				t.Errorf("services %q, want %q", got, tt.services)
			}
			if got := checkIDs(d); !slices.Equal(got, tt.checks) {
				t.Errorf("checks %q, want %q", got, tt.checks)
			}
		})
	}
}

func TestDecodeFileErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       wantErr
	}{
		{"not JSON", `service { name = "web" }`, wantErr{"web.json: invalid character 's' looking for beginning of value", true}},
		{"empty", ``, wantErr{"web.json: unexpected end of JSON input", true}},
		{"service without name", `{"services":[{"name":"a"},{"port":80}]}`, wantErr{"web.json: services[1]: Missing service name", false}},
		{"bad duration in a service check", `{"service":{"name":"a","checks":[{"http":"http://x","interval":"5y"}]}}`,
			wantErr{`web.json: service: Invalid duration for checks[0].interval: time: unknown unit "y" in duration "5y"`, true}},
		{"snake_case field of the wrong type", `{"check":{"name":"c","ttl":"1s","tls_skip_verify":"yes"}}`,
			wantErr{"web.json: check: tls_skip_verify: json: cannot unmarshal string into Go value of type bool", true}},
		{"check without name", `{"checks":[{"ttl":"1s"}]}`, wantErr{"web.json: checks[0]: Missing check name", false}},
		{"service not an object", `{"service":"web"}`, wantErr{"web.json: service: want an object or an array of objects, got a string", true}},
		{"duplicate service ID", `{"services":[{"name":"a"},{"name":"b","id":"a"}]}`,
			wantErr{`web.json: services[1]: service ID "a" is already defined at web.json: services[0]`, false}},
		{"duplicate check ID", `{"service":{"name":"a","check":{"ttl":"1s"}},"check":{"name":"service:a","ttl":"1s"}}`,
			wantErr{`web.json: check: check ID "service:a" is already defined at web.json: service`, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeFile("web.json", []byte(tt.body))
			checkErr(t, err, tt.want)
		})
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"conf.d/20-web.json": `{"service":{"name":"web","port":80,"check":{"http":"http://localhost/health","interval":"10s",
			"deregister_critical_service_after":"5m","tls_skip_verify":true}}}`,
		"conf.d/10-db.json":      `{"services":[{"name":"db","checks":[{"tcp":"localhost:5432","interval":"5s"},{"ttl":"30s"}]}]}`,
		"conf.d/30-checks.json":  `{"checks":[{"id":"mem","name":"Memory","args":["/bin/free"],"interval":"1m"}]}`,
		"conf.d/agent.hcl":       `datacenter = "dc1"`,
		"conf.d/README.md":       `not read`,
		"conf.d/nested/x.json":   `{"service":{"name":"nested"}}`,
		"conf.d/00-agent.json":   `{"datacenter":"dc1","node_name":"n1"}`,
		"extra/explicit.json":    `{"check":{"name":"disk","ttl":"1m","service_id":"db"}}`,
		"other.d/api.json":       `{"service":{"id":"api-1","name":"api"}}`,
		"other.d/not-json.jsonx": `{`,
	})
	d, err := LoadFiles([]string{filepath.Join(dir, "extra/explicit.json")},
		[]string{filepath.Join(dir, "conf.d"), filepath.Join(dir, "other.d")})
	if err != nil {
		t.Fatal(err)
	}
	// The explicit file first, then each directory's files by name.
	if got, want := serviceIDs(d), []string{"db", "web", "api-1"}; !slices.Equal(got, want) {
		t.Errorf("services %q, want %q", got, want)
	}
	if got, want := checkIDs(d), []string{"disk", "mem"}; !slices.Equal(got, want) {
		t.Errorf("checks %q, want %q", got, want)
	}
	if want := []string{filepath.Join(dir, "conf.d/agent.hcl")}; !slices.Equal(d.Skipped, want) {
		t.Errorf("skipped %q, want %q", d.Skipped, want)
	}
	db := d.Services[0]
	if got := []string{db.Checks[0].CheckId, db.Checks[1].CheckId}; !slices.Equal(got, []string{"service:db:1", "service:db:2"}) {
		t.Errorf("db check IDs %q", got)
	}
	web := d.Services[1].Checks[0]
	if web.CheckId != "service:web" || web.ServiceId != "web" || !web.TlsSkipVerify ||
		web.DeregisterCriticalServiceAfter.AsDuration() != 5*time.Minute || web.Name != "Service 'web' check" {
		t.Errorf("web check: %v", web)
	}
	if d.Checks[0].ServiceId != "db" {
		t.Errorf("disk check: %v", d.Checks[0])
	}
}

func TestLoadFilesErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a/1.json":    `{"service":{"name":"web"}}`,
		"a/2.json":    `{"service":{"name":"web"}}`,
		"b/bad.json":  `{"check":{"name":"c","http":"http://x"}}`,
		"c/agent.hcl": `service { name = "web" }`,
	})
	tests := []struct {
		name   string
		paths  []string
		dirs   []string
		want   string
		target error
	}{
		{"the same service in two files", nil, []string{filepath.Join(dir, "a")},
			filepath.Join(dir, "a/2.json") + `: service: service ID "web" is already defined at ` + filepath.Join(dir, "a/1.json") + ": service",
			ErrInvalid},
		{"an invalid check names its file", nil, []string{filepath.Join(dir, "b")},
			filepath.Join(dir, "b/bad.json") + ": check: Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks",
			ErrInvalid},
		{"an explicit HCL file", []string{filepath.Join(dir, "c/agent.hcl")}, nil,
			filepath.Join(dir, "c/agent.hcl") + ": HCL configuration is not supported: write the definitions as JSON", ErrInvalid},
		{"a missing file", []string{filepath.Join(dir, "nope.json")}, nil, "agentdef: open " + filepath.Join(dir, "nope.json"), fs.ErrNotExist},
		{"a missing directory", nil, []string{filepath.Join(dir, "nope")}, "agentdef: reading configuration directory: open " + filepath.Join(dir, "nope"), fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFiles(tt.paths, tt.dirs)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, tt.target) {
				t.Fatalf("error %v\nwant %q (is %v)", err, tt.want, tt.target)
			}
		})
	}
}

// TestDefinitionsAreAgentMessages pins the types LoadFiles returns: the
// health service registers them as they are.
func TestDefinitionsAreAgentMessages(t *testing.T) {
	d, err := DecodeFile("x.json", []byte(`{"service":{"name":"web","check":{"ttl":"1s"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var _ []*agentv1.ServiceDefinition = d.Services
	var _ []*agentv1.CheckDefinition = d.Checks
	req := &agentv1.RegisterServiceRequest{Service: d.Services[0]}
	if req.GetService().GetChecks()[0].GetCheckId() != "service:web" {
		t.Fatal(req)
	}
}
