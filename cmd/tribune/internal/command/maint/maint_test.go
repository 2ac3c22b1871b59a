package maint

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tribune/tribune/cmd/tribune/internal/command/commandtest"
)

// request is a request the fake agent received.
type request struct {
	Method, Path string
	Query        url.Values
}

// fakeAgent fakes the agent endpoints `maint` uses, keeping maintenance
// state as Consul's agent does, as critical checks:
//
//	GET /v1/agent/self
//	GET /v1/agent/checks
//	PUT /v1/agent/maintenance?enable=&reason=
//	PUT /v1/agent/service/maintenance/:id?enable=&reason=
type fakeAgent struct {
	mu       sync.Mutex
	node     string
	services map[string]string // ID → name
	// checks are the agent's checks by ID.
	checks   map[string]map[string]any
	requests []request
	// fail, when it has the request's path, answers it 500 with this body.
	fail map[string]string
	// self, when set, is the body /v1/agent/self answers with.
	self string
}

const (
	defaultNodeReason    = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
	defaultServiceReason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
)

func newFakeAgent(t *testing.T) (*fakeAgent, *httptest.Server) {
	t.Helper()
	f := &fakeAgent{
		node:     "worker-01",
		services: map[string]string{"web-1": "web", "redis": "redis"},
		checks:   map[string]map[string]any{},
		fail:     map[string]string{},
	}
	// Checks that are not maintenance's.
	f.checks["serfHealth"] = f.check("serfHealth", "Serf Health Status", "passing", "", "")
	f.checks["service:web-1"] = f.check("service:web-1", "Service 'web' check", "critical", "", "web-1")
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// check is a check as /v1/agent/checks renders it.
func (f *fakeAgent) check(id, name, status, notes, serviceID string) map[string]any {
	return map[string]any{
		"Node": f.node, "CheckID": id, "Name": name, "Status": status, "Notes": notes, "Output": "",
		"ServiceID": serviceID, "ServiceName": f.services[serviceID], "ServiceTags": []string{},
		"Type": "", "Interval": "", "Timeout": "", "ExposedPort": 0,
		"Definition": map[string]any{}, "CreateIndex": 0, "ModifyIndex": 0,
	}
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
	if body, ok := f.fail[r.URL.Path]; ok {
		http.Error(w, body, http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	switch p := r.URL.Path; {
	case r.Method == http.MethodGet && p == "/v1/agent/self":
		w.Header().Set("Content-Type", "application/json")
		if f.self != "" {
			_, _ = w.Write([]byte(f.self))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"Config": map[string]any{"Datacenter": "dc1", "NodeName": f.node, "NodeID": "1b662d97-8b5c-3cc2-0ac0-96f55ad423b5", "Server": true},
			"Member": map[string]any{"Name": f.node, "Addr": "10.4.5.31", "Port": 8301},
		})
	case r.Method == http.MethodGet && p == "/v1/agent/checks":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.checks)
	case r.Method == http.MethodPut && p == "/v1/agent/maintenance":
		enable, reason, ok := maintParams(w, q)
		if !ok {
			return
		}
		if !enable {
			delete(f.checks, nodeMaintCheckID)
			return
		}
		if reason == "" {
			reason = defaultNodeReason
		}
		f.checks[nodeMaintCheckID] = f.check(nodeMaintCheckID, "Node Maintenance Mode", "critical", reason, "")
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/v1/agent/service/maintenance/"):
		id := strings.TrimPrefix(p, "/v1/agent/service/maintenance/")
		enable, reason, ok := maintParams(w, q)
		if !ok {
			return
		}
		if _, known := f.services[id]; !known {
			http.Error(w, fmt.Sprintf("Unknown service ID %q", id), http.StatusNotFound)
			return
		}
		checkID := serviceMaintCheckIDPrefix + id
		if !enable {
			delete(f.checks, checkID)
			return
		}
		if reason == "" {
			reason = defaultServiceReason
		}
		f.checks[checkID] = f.check(checkID, "Service Maintenance Mode", "critical", reason, id)
	default:
		http.NotFound(w, r)
	}
}

// maintParams reads ?enable and ?reason as Consul's agent does.
func maintParams(w http.ResponseWriter, q url.Values) (enable bool, reason string, ok bool) {
	switch q.Get("enable") {
	case "true":
		enable = true
	case "false":
	default:
		http.Error(w, "Missing value for enable", http.StatusBadRequest)
		return false, "", false
	}
	return enable, q.Get("reason"), true
}

// cli is `tribune maint`.
var cli = commandtest.Cmd{New: New}

func req(method, path string, query url.Values) request {
	if query == nil {
		query = url.Values{}
	}
	return request{Method: method, Path: path, Query: query}
}

var (
	getSelf   = req(http.MethodGet, "/v1/agent/self", nil)
	getChecks = req(http.MethodGet, "/v1/agent/checks", nil)
)

func TestMaint(t *testing.T) {
	tests := []struct {
		name string
		// setup runs `tribune maint` with each of these first.
		setup     [][]string
		args      []string
		wantCode  int
		wantOut   string
		wantErr   string
		errPrefix bool
		want      []request // after setup's
	}{
		{name: "list nothing", args: nil, want: []request{getSelf, getChecks}},
		{name: "enable node", args: []string{"-enable", "-reason=kernel upgrade"},
			wantOut: "Node maintenance is now enabled\n",
			want: []request{req(http.MethodPut, "/v1/agent/maintenance",
				url.Values{"enable": {"true"}, "reason": {"kernel upgrade"}})}},
		{name: "enable node without reason", args: []string{"-enable"},
			wantOut: "Node maintenance is now enabled\n",
			want: []request{req(http.MethodPut, "/v1/agent/maintenance",
				url.Values{"enable": {"true"}, "reason": {""}})}},
		{name: "disable node", setup: [][]string{{"-enable"}}, args: []string{"-disable"},
			wantOut: "Node maintenance is now disabled\n",
			want:    []request{req(http.MethodPut, "/v1/agent/maintenance", url.Values{"enable": {"false"}})}},
		{name: "enable service", args: []string{"-enable", "-service=web-1", "-reason", "bad deploy"},
			wantOut: "Service maintenance is now enabled for \"web-1\"\n",
			want: []request{req(http.MethodPut, "/v1/agent/service/maintenance/web-1",
				url.Values{"enable": {"true"}, "reason": {"bad deploy"}})}},
		{name: "disable service", setup: [][]string{{"-enable", "-service=redis"}}, args: []string{"-disable", "-service", "redis"},
			wantOut: "Service maintenance is now disabled for \"redis\"\n",
			want: []request{req(http.MethodPut, "/v1/agent/service/maintenance/redis",
				url.Values{"enable": {"false"}})}},
		{name: "list", setup: [][]string{
			{"-enable", "-service=web-1", "-reason=bad deploy"},
			{"-enable", "-reason=kernel upgrade"},
			{"-enable", "-service=redis"},
		}, args: nil,
			wantOut: "Node:\n" +
				"  Name:   worker-01\n" +
				"  Reason: kernel upgrade\n" +
				"\n" +
				"Service:\n" +
				"  ID:     redis\n" +
				"  Reason: " + defaultServiceReason + "\n" +
				"\n" +
				"Service:\n" +
				"  ID:     web-1\n" +
				"  Reason: bad deploy\n" +
				"\n",
			want: []request{getSelf, getChecks}},
		{name: "list after disable", setup: [][]string{
			{"-enable", "-service=web-1"}, {"-enable"}, {"-disable"}, {"-disable", "-service=web-1"}, {"-enable", "-service=redis", "-reason=r"},
		}, args: nil,
			wantOut: "Service:\n  ID:     redis\n  Reason: r\n\n",
			want:    []request{getSelf, getChecks}},

		{name: "unknown service", args: []string{"-enable", "-service=nope"}, wantCode: 1,
			wantErr: "Error enabling service maintenance: Unexpected response code: 404 (Unknown service ID \"nope\")\n",
			want: []request{req(http.MethodPut, "/v1/agent/service/maintenance/nope",
				url.Values{"enable": {"true"}, "reason": {""}})}},
		{name: "disable unknown service", args: []string{"-disable", "-service=nope"}, wantCode: 1,
			wantErr: "Error disabling service maintenance: Unexpected response code: 404 (Unknown service ID \"nope\")\n",
			want: []request{req(http.MethodPut, "/v1/agent/service/maintenance/nope",
				url.Values{"enable": {"false"}})}},
		{name: "enable and disable", args: []string{"-enable", "-disable"}, wantCode: 1,
			wantErr: "Only one of -enable or -disable may be provided\n"},
		{name: "reason without enable", args: []string{"-disable", "-reason=broken"}, wantCode: 1,
			wantErr: "Reason may only be provided with -enable\n"},
		{name: "reason alone", args: []string{"-reason=broken"}, wantCode: 1,
			wantErr: "Reason may only be provided with -enable\n"},
		{name: "service alone", args: []string{"-service=redis"}, wantCode: 1,
			wantErr: "Service requires either -enable or -disable\n"},
		{name: "arguments", args: []string{"-enable", "web-1"}, wantCode: 1,
			wantErr: "Too many arguments (expected 0, got 1)\n"},
		{name: "unknown flag", args: []string{"-on"}, wantCode: 1, errPrefix: true,
			wantErr: "flag provided but not defined: -on\nUsage: tribune maint [options]\n"},
		{name: "bad bool", args: []string{"-enable=yes please"}, wantCode: 1, errPrefix: true,
			wantErr: "invalid boolean value \"yes please\" for -enable: parse error\n"},
		{name: "help", args: []string{"-h"}, errPrefix: true, wantErr: "Usage: tribune maint [options]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAgent(t)
			for _, args := range tt.setup {
				if code, _, errOut := cli.Run(t, srv.URL, args...); code != 0 {
					t.Fatalf("setup %v: exit code %d, stderr %q", args, code, errOut)
				}
			}
			f.mu.Lock()
			f.requests = nil
			f.mu.Unlock()

			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.Check(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr, tt.errPrefix)
			checkRequests(t, f, tt.want)
		})
	}
}

func checkRequests(t *testing.T, f *fakeAgent, want []request) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	commandtest.CheckRequests(t, f.requests, want)
}

func TestAgentErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		path    string
		self    string // what /v1/agent/self answers, when not failing
		wantErr string
	}{
		{name: "self", path: "/v1/agent/self",
			wantErr: "Error querying Consul agent: Unexpected response code: 500 (boom)\n"},
		{name: "self without node name", self: `{"Config": {"Datacenter": "dc1"}}`,
			wantErr: "Error querying Consul agent: the agent's /v1/agent/self has no Config.NodeName\n"},
		{name: "checks", path: "/v1/agent/checks",
			wantErr: "Error getting checks: Unexpected response code: 500 (boom)\n"},
		{name: "enable node", args: []string{"-enable"}, path: "/v1/agent/maintenance",
			wantErr: "Error enabling node maintenance: Unexpected response code: 500 (boom)\n"},
		{name: "disable node", args: []string{"-disable"}, path: "/v1/agent/maintenance",
			wantErr: "Error disabling node maintenance: Unexpected response code: 500 (boom)\n"},
		{name: "enable service", args: []string{"-enable", "-service=web-1"}, path: "/v1/agent/service/maintenance/web-1",
			wantErr: "Error enabling service maintenance: Unexpected response code: 500 (boom)\n"},
		{name: "disable service", args: []string{"-disable", "-service=web-1"}, path: "/v1/agent/service/maintenance/web-1",
			wantErr: "Error disabling service maintenance: Unexpected response code: 500 (boom)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAgent(t)
			if tt.path != "" {
				f.fail[tt.path] = "boom"
			}
			f.self = tt.self
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			if code != 1 || out != "" || errOut != tt.wantErr {
				t.Errorf("exit code %d, stdout %q, stderr %q; want 1, \"\", %q", code, out, errOut, tt.wantErr)
			}
		})
	}
}

func TestHTTPClient(t *testing.T) {
	commandtest.CheckHTTPClient(t, commandtest.HTTPClient{
		Cmd:  cli,
		Args: []string{"-enable"},
		Agent: func(t *testing.T) (string, func(*testing.T)) {
			f, srv := newFakeAgent(t)
			return srv.URL, func(t *testing.T) {
				checkRequests(t, f, []request{req(http.MethodPut, "/v1/agent/maintenance", url.Values{"enable": {"true"}, "reason": {""}})})
			}
		},
		Out:  "Node maintenance is now enabled\n",
		Help: map[string][]string{"": {"-enable", "-disable", "-reason string", "-service ID"}},
		Down: []commandtest.Down{
			{Err: func(addr string) string { return "Error querying Consul agent: Get \"" + addr + "/v1/agent/self\": " }},
			{Args: []string{"-enable"}, Err: func(addr string) string {
				return "Error enabling node maintenance: Put \"" + addr + "/v1/agent/maintenance?enable=true&reason=\": "
			}},
			{Args: []string{"-disable", "-service=web"}, Err: func(addr string) string {
				return "Error disabling service maintenance: Put \"" + addr + "/v1/agent/service/maintenance/web?enable=false\": "
			}},
		},
	})
}
