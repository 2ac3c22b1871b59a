package main_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tribune/tribune/cmd/tribune/internal/agenttest"
)

// fastChecks are agent flags that let checks and syncs run at test speed.
var fastChecks = []string{"-anti-entropy-interval", "500ms", "-check-min-interval", "50ms", "-deregister-critical-min", "300ms"}

// catalogCheck polls the catalog until the check with id on the agent's
// node satisfies ok, and returns it.
func catalogCheck(t *testing.T, c *api.Client, id string, ok func(*api.HealthCheck) bool) *api.HealthCheck {
	t.Helper()
	self, err := c.Agent().NodeName()
	if err != nil {
		t.Fatal(err)
	}
	var found *api.HealthCheck
	agenttest.Eventually(t, 10*time.Second, func() error {
		checks, _, err := c.Health().Node(self, nil)
		if err != nil {
			return err
		}
		for _, hc := range checks {
			if hc.CheckID == id {
				found = hc
				if ok(hc) {
					return nil
				}
				return fmt.Errorf("check %s is %s: %q", id, hc.Status, hc.Output)
			}
		}
		return fmt.Errorf("no check %s in the catalog", id)
	})
	return found
}

func hasStatus(want string) func(*api.HealthCheck) bool {
	return func(hc *api.HealthCheck) bool { return hc.Status == want }
}

// TestHealthProbes registers HTTP, TCP and gRPC checks against real
// servers and follows their status changes into the catalog.
func TestHealthProbes(t *testing.T) {
	a := agenttest.Start(t, "", fastChecks...)
	c := consulClient(t, a)
	agent := c.Agent()

	var code atomic.Int32
	code.Store(200)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(code.Load()))
		fmt.Fprint(w, "body-from-web")
	}))
	defer web.Close()

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := tcp.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(gl) }()
	defer gs.Stop()

	reg := &api.AgentServiceRegistration{Name: "web", Port: 80, Checks: api.AgentServiceChecks{
		{CheckID: "http", Name: "http", HTTP: web.URL, Interval: "100ms"},
		{CheckID: "tcp", Name: "tcp", TCP: tcp.Addr().String(), Interval: "100ms"},
		{CheckID: "grpc", Name: "grpc", GRPC: gl.Addr().String(), Interval: "100ms"},
	}}
	if err := agent.ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	hc := catalogCheck(t, c, "http", hasStatus("passing"))
	if !strings.Contains(hc.Output, "200 OK") || !strings.Contains(hc.Output, "body-from-web") {
		t.Fatalf("http check output %q", hc.Output)
	}
	catalogCheck(t, c, "tcp", hasStatus("passing"))
	catalogCheck(t, c, "grpc", hasStatus("passing"))

	code.Store(503)
	catalogCheck(t, c, "http", hasStatus("critical"))
	code.Store(429)
	catalogCheck(t, c, "http", hasStatus("warning"))

	tcp.Close()
	catalogCheck(t, c, "tcp", hasStatus("critical"))

	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	catalogCheck(t, c, "grpc", hasStatus("critical"))
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	catalogCheck(t, c, "grpc", hasStatus("passing"))

	// The agent's own view agrees, with Consul's status codes.
	resp, err := http.Get(a.URL("/v1/agent/health/service/name/web"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("agent health of web: %d, want 503 (the tcp check is critical)", resp.StatusCode)
	}
}

// TestHealthTTL walks a TTL check through pass, warn, fail and update, and
// lets it expire.
func TestHealthTTL(t *testing.T) {
	a := agenttest.Start(t, "", fastChecks...)
	c := consulClient(t, a)
	agent := c.Agent()
	if err := agent.ServiceRegister(&api.AgentServiceRegistration{Name: "worker",
		Check: &api.AgentServiceCheck{TTL: "1s"}}); err != nil {
		t.Fatal(err)
	}
	const id = "service:worker"
	catalogCheck(t, c, id, hasStatus("critical"))
	steps := []struct {
		do     func() error
		status string
		output string
	}{
		{func() error { return agent.PassTTL(id, "all good") }, "passing", "all good"},
		{func() error { return agent.WarnTTL(id, "slow") }, "warning", "slow"},
		{func() error { return agent.FailTTL(id, "down") }, "critical", "down"},
		{func() error { return agent.UpdateTTL(id, "back", api.HealthPassing) }, "passing", "back"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		catalogCheck(t, c, id, func(hc *api.HealthCheck) bool { return hc.Status == s.status && hc.Output == s.output })
	}
	hc := catalogCheck(t, c, id, hasStatus("critical"))
	if !strings.HasPrefix(hc.Output, "TTL expired") || !strings.Contains(hc.Output, "back") {
		t.Fatalf("expired TTL output %q", hc.Output)
	}
}

// TestHealthRestartAntiEntropyAndReaping checks that the agent keeps its
// services across a restart, repairs the catalog when others change it,
// and deregisters a service that stays critical.
func TestHealthRestartAntiEntropyAndReaping(t *testing.T) {
	dir := t.TempDir()
	a := agenttest.Start(t, dir, fastChecks...)
	c := consulClient(t, a)
	agent, cat := c.Agent(), c.Catalog()
	if err := agent.ServiceRegister(&api.AgentServiceRegistration{ID: "api-1", Name: "api", Port: 9000,
		Check: &api.AgentServiceCheck{TTL: "1h", Status: "passing"}}); err != nil {
		t.Fatal(err)
	}
	self, err := agent.NodeName()
	if err != nil {
		t.Fatal(err)
	}
	inCatalog := func(id string) func() error {
		return func() error {
			n, _, err := cat.Node(self, nil)
			if err != nil {
				return err
			}
			if n == nil || n.Services[id] == nil {
				return fmt.Errorf("%s not in the catalog", id)
			}
			return nil
		}
	}
	notInCatalog := func(id string) func() error {
		return func() error {
			if err := inCatalog(id)(); err == nil {
				return fmt.Errorf("%s still in the catalog", id)
			}
			return nil
		}
	}
	agenttest.Eventually(t, 10*time.Second, inCatalog("api-1"))

	// Removed behind the agent's back: it comes back.
	if _, err := cat.Deregister(&api.CatalogDeregistration{Node: self, ServiceID: "api-1"}, nil); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 10*time.Second, inCatalog("api-1"))
	// Registered for this node but unknown to the agent: it goes.
	if _, err := cat.Register(&api.CatalogRegistration{Node: self, Address: "127.0.0.1",
		Service: &api.AgentService{ID: "intruder", Service: "intruder"}}, nil); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 10*time.Second, notInCatalog("intruder"))

	// A restart keeps the service and its check.
	if err := a.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	a.Restart()
	svcs, err := agent.Services()
	if err != nil || svcs["api-1"] == nil || svcs["api-1"].Port != 9000 {
		t.Fatalf("after restart: %v %v", svcs, err)
	}
	checks, err := agent.Checks()
	if err != nil || checks["service:api-1"] == nil {
		t.Fatalf("after restart checks: %v %v", checks, err)
	}

	// A service whose check stays critical past
	// DeregisterCriticalServiceAfter is removed, from the agent and the
	// catalog.
	if err := agent.ServiceRegister(&api.AgentServiceRegistration{ID: "flaky-1", Name: "flaky",
		Check: &api.AgentServiceCheck{TTL: "1h", DeregisterCriticalServiceAfter: "300ms"}}); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 15*time.Second, func() error {
		svcs, err := agent.Services()
		if err != nil {
			return err
		}
		if svcs["flaky-1"] != nil {
			return fmt.Errorf("flaky-1 still registered")
		}
		return notInCatalog("flaky-1")()
	})
	if svcs, _ := agent.Services(); svcs["api-1"] == nil {
		t.Fatal("reaping flaky-1 removed api-1 too")
	}
}

// TestHealthBadInput sends bad registrations: each is a 400 with a clear
// message, and nothing is registered.
func TestHealthBadInput(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "services.json")
	if err := os.WriteFile(cfgFile, []byte(`{"service": {"name": "from-file", "port": 7000}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	a := agenttest.Start(t, "", append([]string{"-config-file", cfgFile}, fastChecks...)...)
	c := consulClient(t, a)
	agenttest.Eventually(t, 10*time.Second, func() error {
		svcs, err := c.Agent().Services()
		if err != nil {
			return err
		}
		if svcs["from-file"] == nil {
			return fmt.Errorf("from-file not loaded: %v", svcs)
		}
		return nil
	})
	put := func(path, body string) (int, string) {
		req, _ := http.NewRequest("PUT", a.URL(path), strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	bad := []struct {
		name, path, body, msg string
	}{
		{"no name", "/v1/agent/service/register", `{"Port": 80}`, "Missing service name"},
		{"bad interval", "/v1/agent/service/register", `{"Name": "x", "Check": {"HTTP": "http://127.0.0.1:1/", "Interval": "5x"}}`, "Interval"},
		{"ttl and http", "/v1/agent/service/register", `{"Name": "x", "Check": {"TTL": "10s", "HTTP": "http://127.0.0.1:1/", "Interval": "10s"}}`, "TTL"},
		{"negative port", "/v1/agent/service/register", `{"Name": "x", "Port": -1}`, "port"},
		{"malformed JSON", "/v1/agent/service/register", `{"Name": `, "Request decode failed"},
		{"unknown check", "/v1/agent/check/pass/nope", ``, "nope"},
	}
	for _, b := range bad {
		code, body := put(b.path, b.body)
		if code != 400 || !strings.Contains(strings.ToLower(body), strings.ToLower(b.msg)) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", b.name, code, body, b.msg)
		}
	}
	svcs, err := c.Agent().Services()
	if err != nil || len(svcs) != 1 {
		t.Fatalf("after bad registrations the agent has %v (%v), want only from-file", svcs, err)
	}

	// An invalid definition file: reload refuses it, naming the file and
	// the field, and the running configuration stays.
	if err := os.WriteFile(cfgFile, []byte(`{"service": {"port": 7000}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := put("/v1/agent/reload", "")
	if code != 400 || !strings.Contains(body, "services.json") || !strings.Contains(body, "Missing service name") {
		t.Fatalf("reload of an invalid file: %d %q", code, body)
	}
	if svcs, _ := c.Agent().Services(); svcs["from-file"] == nil {
		t.Fatal("a failed reload dropped the running configuration")
	}
	// A valid change is picked up by reload.
	if err := os.WriteFile(cfgFile, []byte(`{"services": [{"name": "renamed", "port": 7001}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().Reload(); err != nil {
		t.Fatal(err)
	}
	svcs, _ = c.Agent().Services()
	if svcs["renamed"] == nil || svcs["from-file"] != nil {
		t.Fatalf("after reload: %v", svcs)
	}
}
