package members

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command/commandtest"
)

// request is a request the fake agent received.
type request struct {
	Method, Path string
	Query        url.Values
}

// fakeAgent fakes GET /v1/agent/members[?wan=1], answering with Consul's
// JSON: the LAN pool's members, or with wan=1 the WAN pool's.
type fakeAgent struct {
	mu       sync.Mutex
	lan, wan []map[string]any
	requests []request
	// fail, when set, answers every request 500 with this body.
	fail string
}

// member is a member as Consul's /v1/agent/members renders it.
func member(name, addr string, status int, tags map[string]string) map[string]any {
	return map[string]any{
		"Name": name, "Addr": addr, "Port": 8301, "Tags": tags, "Status": status,
		"ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
		"DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4,
	}
}

func newFakeAgent(t *testing.T) (*fakeAgent, *httptest.Server) {
	t.Helper()
	build := "1.16.0:d9e7d2d3"
	f := &fakeAgent{
		lan: []map[string]any{
			// In the agent's order, not the command's.
			member("worker-b", "10.0.0.12", 1, map[string]string{"role": "node", "dc": "dc1", "build": build, "vsn": "2", "segment": ""}),
			member("server-2", "10.0.0.2", 7, map[string]string{"role": "consul", "dc": "dc1", "build": build, "vsn": "2", "port": "8300"}),
			member("worker-a", "10.0.0.11", 4, map[string]string{"role": "node", "dc": "dc1", "build": "1.15.2", "vsn": "2"}),
			member("mystery", "fe80::1", 2, map[string]string{"role": "nomad"}),
			member("ancient", "10.0.0.9", 3, map[string]string{"role": "node", "dc": "dc1", "vsn": "1"}),
			member("server-1", "10.0.0.1", 1, map[string]string{"role": "consul", "dc": "dc1", "build": build, "vsn": "2", "port": "8300", "segment": ""}),
		},
		wan: []map[string]any{
			member("server-1.dc2", "10.1.0.1", 1, map[string]string{"role": "consul", "dc": "dc2", "build": build, "vsn": "2"}),
			member("server-1.dc1", "10.0.0.1", 1, map[string]string{"role": "consul", "dc": "dc1", "build": build, "vsn": "2"}),
		},
	}
	for _, m := range f.wan {
		m["Port"] = 8302
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
	switch {
	case f.fail != "":
		http.Error(w, f.fail, http.StatusInternalServerError)
	case r.URL.Path != "/v1/agent/members":
		http.NotFound(w, r)
	case r.Method != http.MethodGet:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		members := f.lan
		if r.URL.Query().Get("wan") == "1" {
			members = f.wan
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(members)
	}
}

// cli is `tribune members`.
var cli = commandtest.Cmd{New: New}

var (
	getLAN = request{Method: http.MethodGet, Path: "/v1/agent/members", Query: url.Values{"segment": {"_all"}}}
	getWAN = request{Method: http.MethodGet, Path: "/v1/agent/members", Query: url.Values{"segment": {"_all"}, "wan": {"1"}}}
)

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// wanOut is what `tribune members -wan` prints for the fake agent.
var wanOut = lines(
	"Node          Address        Status  Type    Build   Protocol  DC",
	"server-1.dc1  10.0.0.1:8302  alive   server  1.16.0  2         dc1",
	"server-1.dc2  10.1.0.1:8302  alive   server  1.16.0  2         dc2",
)

func TestMembers(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		fail      string
		wantCode  int
		wantOut   string
		wantErr   string
		errPrefix bool
		want      []request
	}{
		{name: "lan", want: []request{getLAN}, wantOut: lines(
			"Node      Address         Status   Type     Build   Protocol  DC",
			"server-1  10.0.0.1:8301   alive    server   1.16.0  2         dc1",
			"server-2  10.0.0.2:8301   unknown  server   1.16.0  2         dc1",
			"ancient   10.0.0.9:8301   left     client   < 0.3   1         dc1",
			"mystery   [fe80::1]:8301  leaving  unknown"+strings.Repeat(" ", 20),
			"worker-a  10.0.0.11:8301  failed   client   1.15.2  2         dc1",
			"worker-b  10.0.0.12:8301  alive    client   1.16.0  2         dc1",
		)},
		{name: "wan", args: []string{"-wan"}, want: []request{getWAN}, wantOut: wanOut},
		{name: "status", args: []string{"-status", "^(failed|left)$"}, want: []request{getLAN}, wantOut: lines(
			"Node      Address         Status  Type    Build   Protocol  DC",
			"ancient   10.0.0.9:8301   left    client  < 0.3   1         dc1",
			"worker-a  10.0.0.11:8301  failed  client  1.15.2  2         dc1",
		)},
		{name: "detailed", args: []string{"-detailed", "-status=alive"}, want: []request{getLAN}, wantOut: lines(
			"Node      Address         Status  Tags",
			"server-1  10.0.0.1:8301   alive   build=1.16.0:d9e7d2d3,dc=dc1,port=8300,role=consul,segment=,vsn=2",
			"worker-b  10.0.0.12:8301  alive   build=1.16.0:d9e7d2d3,dc=dc1,role=node,segment=,vsn=2",
		)},
		{name: "detailed unknown role", args: []string{"-detailed", "-status=leaving"}, want: []request{getLAN}, wantOut: lines(
			"Node     Address         Status   Tags",
			"mystery  [fe80::1]:8301  leaving  role=nomad",
		)},
		{name: "no member matches", args: []string{"-status=none"}, wantCode: 2, want: []request{getLAN}},

		{name: "agent error", fail: "boom", wantCode: 1, want: []request{getLAN},
			wantErr: "Error retrieving members: Unexpected response code: 500 (boom)\n"},
		{name: "bad status regexp", args: []string{"-status=("}, wantCode: 1,
			wantErr: "Failed to compile status regexp: error parsing regexp: missing closing ): `(`\n"},
		{name: "arguments", args: []string{"server-1"}, wantCode: 1,
			wantErr: "Too many arguments (expected 0, got 1)\n"},
		{name: "unknown flag", args: []string{"-segment=alpha"}, wantCode: 1, errPrefix: true,
			wantErr: "flag provided but not defined: -segment\nUsage: tribune members [options]\n"},
		{name: "help", args: []string{"-help"}, errPrefix: true,
			wantErr: "Usage: tribune members [options]\n\n  Outputs the members of a running agent's gossip pool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAgent(t)
			f.fail = tt.fail
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.Check(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr, tt.errPrefix)
			f.mu.Lock()
			defer f.mu.Unlock()
			commandtest.CheckRequests(t, f.requests, tt.want)
		})
	}
}

// TestMembersEmptyPool checks a pool with no members (a client's WAN pool)
// exits 2, printing nothing, as no match does.
func TestMembersEmptyPool(t *testing.T) {
	f, srv := newFakeAgent(t)
	f.wan = []map[string]any{}
	code, out, errOut := cli.Run(t, srv.URL, "-wan")
	if code != 2 || out != "" || errOut != "" {
		t.Errorf("exit code %d, stdout %q, stderr %q; want 2 and nothing", code, out, errOut)
	}
}

func TestSortOrder(t *testing.T) {
	m := func(name string, tags map[string]string) *api.AgentMember {
		return &api.AgentMember{Name: name, Tags: tags}
	}
	in := []*api.AgentMember{
		m("c-part-b", map[string]string{"role": "node", "ap": "beta"}),
		m("c-seg-b", map[string]string{"role": "node", "segment": "beta"}),
		m("c-part-a", map[string]string{"role": "node", "ap": "alpha"}),
		m("c-default", map[string]string{"role": "node", "ap": "default"}),
		m("c-seg-a", map[string]string{"role": "node", "segment": "alpha"}),
		m("z-server", map[string]string{"role": "consul", "segment": "zeta"}),
		m("a-server", map[string]string{"role": "consul"}),
		m("a-plain", map[string]string{"role": "node"}),
		m("nil-tags", nil),
	}
	// "<default>" sorts before the segments' names, as in Consul's CLI.
	want := []string{"a-server", "z-server", "a-plain", "c-default", "nil-tags", "c-seg-a", "c-seg-b", "c-part-a", "c-part-b"}
	for range 3 {
		got := append([]*api.AgentMember(nil), in...)
		sortMembers(got)
		names := make([]string, len(got))
		for i, g := range got {
			names[i] = g.Name
		}
		if !reflect.DeepEqual(names, want) {
			t.Fatalf("order = %v, want %v", names, want)
		}
		in[0], in[len(in)-1] = in[len(in)-1], in[0]
	}
}

func TestHTTPClient(t *testing.T) {
	commandtest.CheckHTTPClient(t, commandtest.HTTPClient{
		Cmd:  cli,
		Args: []string{"-wan"},
		Agent: func(t *testing.T) (string, func(*testing.T)) {
			f, srv := newFakeAgent(t)
			return srv.URL, func(t *testing.T) {
				f.mu.Lock()
				defer f.mu.Unlock()
				commandtest.CheckRequests(t, f.requests, []request{getWAN})
			}
		},
		Out:  wanOut,
		Help: map[string][]string{"": {"-detailed", "-wan", "-status string"}},
		Down: []commandtest.Down{{Err: func(addr string) string {
			return "Error retrieving members: Get \"" + addr + "/v1/agent/members?segment=_all\": "
		}}},
	})
}
