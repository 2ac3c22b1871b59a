package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

func TestParseCatalog(t *testing.T) {
	defaults := catalogConfig{
		target: "grpc", addr: "127.0.0.1:8502", clients: 64, duration: 10 * time.Second,
		services: 1000, nodes: 100, instances: 10, op: "churn", prefix: "bench-", timeout: 10 * time.Second,
	}
	with := func(f func(*catalogConfig)) *catalogConfig {
		c := defaults
		f(&c)
		return &c
	}
	tests := []struct {
		name    string
		args    []string
		want    *catalogConfig
		wantErr string // a substring of the error or of what the flag package printed
	}{
		{name: "defaults", args: nil, want: &defaults},
		{name: "http default addr", args: []string{"-target", "http"},
			want: with(func(c *catalogConfig) { c.target, c.addr = "http", "127.0.0.1:8500" })},
		{name: "explicit addr", args: []string{"-target=http", "-addr=127.0.0.1:18500"},
			want: with(func(c *catalogConfig) { c.target, c.addr = "http", "127.0.0.1:18500" })},
		{name: "requests replace duration", args: []string{"-requests=1000"},
			want: with(func(c *catalogConfig) { c.requests, c.duration = 1000, 0 })},
		{name: "everything", args: []string{"-clients=8", "-duration=2s", "-services=5", "-nodes=3",
			"-instances=2", "-op=health", "-prefix=x.y_z-", "-json", "-timeout=1s"},
			want: with(func(c *catalogConfig) {
				c.clients, c.duration, c.services, c.nodes, c.instances, c.op, c.prefix, c.json, c.timeout =
					8, 2*time.Second, 5, 3, 2, "health", "x.y_z-", true, time.Second
			})},
		{name: "empty prefix", args: []string{"-prefix="}, want: with(func(c *catalogConfig) { c.prefix = "" })},
		{name: "etcd target", args: []string{"-target=etcd"}, wantErr: `-target must be grpc or http, not "etcd"`},
		{name: "unknown op", args: []string{"-op=put"}, wantErr: `-op must be churn or health, not "put"`},
		{name: "zero clients", args: []string{"-clients=0"}, wantErr: "-clients must be at least 1, not 0"},
		{name: "too many clients", args: []string{"-clients=1000000"}, wantErr: "-clients must be at most 100000"},
		{name: "zero duration", args: []string{"-duration=0s"}, wantErr: "-duration must be positive, not 0s"},
		{name: "duration and requests", args: []string{"-duration=1s", "-requests=5"}, wantErr: "-duration and -requests are exclusive"},
		{name: "zero requests", args: []string{"-requests=0"}, wantErr: "-requests must be positive, not 0"},
		{name: "negative requests", args: []string{"-requests=-3"}, wantErr: "-requests must be positive, not -3"},
		{name: "zero services", args: []string{"-services=0"}, wantErr: "-services must be at least 1, not 0"},
		{name: "zero nodes", args: []string{"-nodes=0"}, wantErr: "-nodes must be at least 1, not 0"},
		{name: "zero instances", args: []string{"-instances=0"}, wantErr: "-instances must be at least 1, not 0"},
		{name: "too many instances", args: []string{"-op=health", "-services=100000", "-instances=11"},
			wantErr: "-services × -instances must be at most 1000000, not 1100000"},
		{name: "many instances but churn", args: []string{"-services=100000", "-instances=11"},
			want: with(func(c *catalogConfig) { c.services, c.instances = 100000, 11 })},
		{name: "slash in prefix", args: []string{"-prefix=a/b"}, wantErr: `-prefix may hold only letters, digits`},
		{name: "space in prefix", args: []string{"-prefix=a b"}, wantErr: `-prefix may hold only letters, digits`},
		{name: "zero timeout", args: []string{"-timeout=0s"}, wantErr: "-timeout must be positive"},
		{name: "positional argument", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
		{name: "kv flag", args: []string{"-value-size=5"}, wantErr: "flag provided but not defined: -value-size"},
		{name: "non-numeric nodes", args: []string{"-nodes=ten"}, wantErr: `invalid value "ten" for flag -nodes`},
		{name: "compare with KV", args: []string{"-compare-kv=30", "-duration=2s"},
			want: with(func(c *catalogConfig) { c.compareKV, c.duration = 30, 2*time.Second })},
		{name: "compare, negative", args: []string{"-compare-kv=-1"}, wantErr: "-compare-kv must be between 0 and 1000 rounds, not -1"},
		{name: "compare, too many", args: []string{"-compare-kv=1001"}, wantErr: "-compare-kv must be between 0 and 1000 rounds, not 1001"},
		{name: "compare health", args: []string{"-compare-kv=3", "-op=health"}, wantErr: "-compare-kv compares churn with KV puts: it needs -op churn"},
		{name: "compare by requests", args: []string{"-compare-kv=3", "-requests=100"}, wantErr: "-compare-kv times each run with -duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkParse(t, "parseCatalog", parseCatalog, tt.args, tt.want, tt.wantErr) })
	}
}

func TestCatalogCommandErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "help lists catalog", args: []string{"-h"}, wantCode: 0, wantErr: "catalog     Loads the catalog"},
		{name: "help lists health", args: []string{"help"}, wantCode: 0, wantErr: "health      Measures"},
		{name: "catalog help", args: []string{"catalog", "-h"}, wantCode: 0, wantErr: "Usage: tribune bench catalog"},
		{name: "health help", args: []string{"health", "-help"}, wantCode: 0, wantErr: "Usage: tribune bench health"},
		{name: "catalog bad value", args: []string{"catalog", "-nodes=-1"}, wantCode: 1,
			wantErr: "Error! -nodes must be at least 1, not -1\nRun 'tribune bench catalog -h' for usage.\n"},
		{name: "catalog bad flag", args: []string{"catalog", "-keys=5"}, wantCode: 1, wantErr: "flag provided but not defined: -keys"},
		{name: "catalog bad http addr", args: []string{"catalog", "-target=http", "-addr=http://", "-requests=1"}, wantCode: 1,
			wantErr: `Error! Cannot connect to http at http://: invalid -addr "http://"`},
		{name: "health bad value", args: []string{"health", "-flips=11", "-checks=10"}, wantCode: 1,
			wantErr: "Error! -flips (11) must be at most -checks (10)"},
		{name: "health bad flag", args: []string{"health", "-clients=5"}, wantCode: 1, wantErr: "flag provided but not defined: -clients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli.Run(t, "", tt.args...)
			if code != tt.wantCode || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout, stderr with %q",
					code, out, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// fakeCatalog is an in-memory catalog of instances behind both a fake
// Consul /v1/catalog and /v1/health and a fake RegistryService.
type fakeCatalog struct {
	registryv1.UnimplementedRegistryServiceServer
	mu            sync.Mutex
	instances     map[[2]string]string // (node, service ID) → service name
	nodes         map[string]bool
	registers     int
	deregisters   int
	nodeDeletes   int
	healthReads   int
	badChecks     int // registrations without one passing check of their instance
	maxConcurrent int // most instances held at once
}

// The request bodies the fake decodes, in Consul's shape
// (api.CatalogRegistration, api.CatalogDeregistration).
type (
	httpCatalogRegistration struct {
		Node    string
		Address string
		Service *httpCatalogService `json:",omitempty"`
		Check   *httpCatalogCheck   `json:",omitempty"`
	}
	httpCatalogService struct {
		ID      string
		Service string
		Port    int
	}
	httpCatalogCheck struct {
		CheckID   string
		Name      string
		Status    string
		ServiceID string
	}
	httpCatalogDeregistration struct {
		Node      string
		ServiceID string `json:",omitempty"`
	}
)

// TestRequestBodies holds the load generator's hand-written bodies to
// what encoding/json writes for the same registration, byte for byte,
// names that need escaping included.
func TestRequestBodies(t *testing.T) {
	for _, r := range []catalogReg{
		newReg("bench-node-07", "bench-svc-123", "bench-svc-123-c5", 20005),
		newReg(`n"quote\back`, "svc<&>", "id\u2028\x01", 0),
		newReg("nœud", "服务", "", 65535),
	} {
		want, err := json.Marshal(httpCatalogRegistration{
			Node: r.node, Address: r.address,
			Service: &httpCatalogService{ID: r.serviceID, Service: r.service, Port: r.port},
			Check:   &httpCatalogCheck{CheckID: r.checkID, Name: r.checkName, Status: "passing", ServiceID: r.serviceID},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRegistration(nil, r); string(got) != string(want) {
			t.Errorf("registration\n got %s\nwant %s", got, want)
		}
		for _, id := range []string{r.serviceID, ""} {
			want, err := json.Marshal(httpCatalogDeregistration{Node: r.node, ServiceID: id})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendDeregistration(nil, r.node, id); string(got) != string(want) {
				t.Errorf("deregistration\n got %s\nwant %s", got, want)
			}
		}
	}
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{instances: map[[2]string]string{}, nodes: map[string]bool{}}
}

func (f *fakeCatalog) register(node, addr, svc, id string, checks [][3]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registers++
	f.nodes[node] = true
	f.instances[[2]string{node, id}] = svc
	f.maxConcurrent = max(f.maxConcurrent, len(f.instances))
	if addr == "" || len(checks) != 1 || checks[0] != [3]string{"service:" + id, "passing", id} {
		f.badChecks++
	}
}

func (f *fakeCatalog) deregister(node, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == "" {
		f.nodeDeletes++
		delete(f.nodes, node)
		for k := range f.instances {
			if k[0] == node {
				delete(f.instances, k)
			}
		}
		return
	}
	f.deregisters++
	delete(f.instances, [2]string{node, id})
}

func (f *fakeCatalog) passing(svc string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healthReads++
	n := 0
	for _, s := range f.instances {
		if s == svc {
			n++
		}
	}
	return n
}

func (f *fakeCatalog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/v1/catalog/register":
		var reg httpCatalogRegistration
		if err := json.NewDecoder(r.Body).Decode(&reg); err != nil || reg.Service == nil {
			http.Error(w, "bad registration", http.StatusBadRequest)
			return
		}
		var checks [][3]string
		if c := reg.Check; c != nil {
			checks = append(checks, [3]string{c.CheckID, c.Status, c.ServiceID})
		}
		f.register(reg.Node, reg.Address, reg.Service.Service, reg.Service.ID, checks)
		_, _ = w.Write([]byte("true"))
	case r.Method == http.MethodPut && r.URL.Path == "/v1/catalog/deregister":
		var d httpCatalogDeregistration
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			http.Error(w, "bad deregistration", http.StatusBadRequest)
			return
		}
		f.deregister(d.Node, d.ServiceID)
		_, _ = w.Write([]byte("true"))
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/health/service/"):
		if _, ok := r.URL.Query()["passing"]; !ok {
			http.Error(w, "want ?passing", http.StatusBadRequest)
			return
		}
		n := f.passing(strings.TrimPrefix(r.URL.Path, "/v1/health/service/"))
		entries := make([]map[string]any, n)
		for i := range entries {
			entries[i] = map[string]any{"Node": map[string]any{"Node": i}, "Checks": []any{}}
		}
		_ = json.NewEncoder(w).Encode(entries)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeCatalog) Register(_ context.Context, req *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	var checks [][3]string
	for _, c := range req.Checks {
		checks = append(checks, [3]string{c.CheckId, c.Status, c.ServiceId})
	}
	f.register(req.GetNode().GetNode(), req.GetNode().GetAddress(), req.GetService().GetService(), req.GetService().GetId(), checks)
	return &registryv1.RegisterResponse{Index: 1}, nil
}

func (f *fakeCatalog) Deregister(_ context.Context, req *registryv1.DeregisterRequest) (*registryv1.DeregisterResponse, error) {
	f.deregister(req.Node, req.ServiceId)
	return &registryv1.DeregisterResponse{Index: 1}, nil
}

func (f *fakeCatalog) ServiceHealth(_ context.Context, req *registryv1.ServiceHealthRequest) (*registryv1.ServiceHealthResponse, error) {
	if !req.PassingOnly {
		return nil, fmt.Errorf("want passing_only")
	}
	n := f.passing(req.Service)
	return &registryv1.ServiceHealthResponse{Entries: make([]*registryv1.ServiceHealthEntry, n)}, nil
}

func startFakeCatalog(t *testing.T, target string, f *fakeCatalog) string {
	t.Helper()
	return startKVAndCatalog(t, target, nil, f)
}

func TestCatalogLoad(t *testing.T) {
	for _, target := range []string{"http", "grpc"} {
		t.Run(target+" churn", func(t *testing.T) {
			f := newFakeCatalog()
			addr := startFakeCatalog(t, target, f)
			code, out, errOut := cli.Run(t, "", "catalog", "-json", "-target="+target, "-addr="+addr,
				"-requests=601", "-clients=8", "-services=20", "-nodes=5")
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var got catalogJSONResult
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output %q is not one JSON object: %v", out, err)
			}
			if got.Ops != 601 || got.Errors != 0 || got.Op != "churn" || got.Instances != 0 || got.OpsPerSecond <= 0 {
				t.Errorf("result %+v: want 601 ops, no errors", got)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			// Each client alternates register and deregister, starting
			// with a register; the nodes are removed at the end.
			if f.registers+f.deregisters != 601 || f.registers < f.deregisters || f.registers-f.deregisters > 8 {
				t.Errorf("%d registers and %d deregisters, want 601 alternating", f.registers, f.deregisters)
			}
			if f.badChecks != 0 || f.maxConcurrent > 8 {
				t.Errorf("%d registrations without their passing check, %d instances at once (want at most 8)", f.badChecks, f.maxConcurrent)
			}
			if f.nodeDeletes != 5 || len(f.instances) != 0 || len(f.nodes) != 0 {
				t.Errorf("%d node deletes, %d instances and %d nodes left; want all 5 nodes gone", f.nodeDeletes, len(f.instances), len(f.nodes))
			}
			if !strings.Contains(errOut, "Deregistered 5 nodes") {
				t.Errorf("stderr %q: want the cleanup reported", errOut)
			}
		})
		t.Run(target+" health", func(t *testing.T) {
			f := newFakeCatalog()
			addr := startFakeCatalog(t, target, f)
			code, out, errOut := cli.Run(t, "", "catalog", "-target="+target, "-addr="+addr, "-op=health",
				"-requests=300", "-clients=4", "-services=7", "-nodes=4", "-instances=3")
			if code != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("output %q: want a header and a row", out)
			}
			hdr, row := strings.Fields(lines[0]), strings.Fields(lines[1])
			if len(hdr) != len(row) {
				t.Fatalf("header %q and row %q differ in length", hdr, row)
			}
			fields := map[string]string{}
			for i := range hdr {
				fields[hdr[i]] = row[i]
			}
			if fields["ops"] != "300" || fields["errors"] != "0" || fields["instances"] != "3" || fields["reads/s"] == "" {
				t.Errorf("row %v: want 300 reads of 3 instances", fields)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.registers != 21 || f.healthReads != 300 || f.badChecks != 0 || len(f.instances) != 0 {
				t.Errorf("%d registers, %d reads, %d bad, %d left: want 21, 300, 0, 0", f.registers, f.healthReads, f.badChecks, len(f.instances))
			}
		})
	}
}

func TestCatalogHealthCountsMissingInstances(t *testing.T) {
	f := newFakeCatalog()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/health/service/") {
			_, _ = w.Write([]byte(`[{}]`)) // one instance, not 2
			return
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	code, out, _ := cli.Run(t, "", "catalog", "-target=http", "-addr="+srv.URL, "-op=health",
		"-requests=10", "-clients=2", "-services=3", "-nodes=2", "-instances=2")
	if code != 1 || !strings.Contains(out, "first error: service bench-svc-") || !strings.Contains(out, "1 passing instances, want 2") {
		t.Errorf("exit %d, output %q: want exit 1 and the missing instances reported", code, out)
	}
}

func TestHealthInstanceSpread(t *testing.T) {
	cfg := &catalogConfig{services: 3, nodes: 4, instances: 3, prefix: "p-"}
	names := makeCatalogNames(cfg)
	seen := map[[2]string]bool{}
	for k := range cfg.services * cfg.instances {
		r := healthInstance(cfg, names, k)
		key := [2]string{r.node, r.serviceID}
		if seen[key] {
			t.Fatalf("instance %d: %v registered twice", k, key)
		}
		seen[key] = true
		if !strings.HasPrefix(r.serviceID, r.service+"-") || !strings.HasPrefix(r.node, "p-node-") {
			t.Errorf("instance %d: %+v", k, r)
		}
	}
	if r := healthInstance(cfg, names, 5); r.service != "p-svc-1" || r.serviceID != "p-svc-1-2" || r.node != "p-node-1" {
		t.Errorf("instance 5 = %+v, want p-svc-1-2 on p-node-1", r)
	}
}

// BenchmarkRegistrationBody compares the load generator's hand-written
// registration body with encoding/json's, which it replaced:
//
//	go test -run NONE -bench RegistrationBody -benchmem ./cmd/tribune/internal/command/bench
func BenchmarkRegistrationBody(b *testing.B) {
	r := newReg("bench-node-07", "bench-svc-123", "bench-svc-123-c5", 20005)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendRegistration(make([]byte, 0, 384), r)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(httpCatalogRegistration{
				Node: r.node, Address: r.address,
				Service: &httpCatalogService{ID: r.serviceID, Service: r.service, Port: r.port},
				Check:   &httpCatalogCheck{CheckID: r.checkID, Name: r.checkName, Status: "passing", ServiceID: r.serviceID},
			})
		}
	})
}
