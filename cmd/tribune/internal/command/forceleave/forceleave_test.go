package forceleave

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
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

// fakeAgent fakes PUT /v1/agent/force-leave/:node[?prune=1][&wan=1]: it
// forces the members it knows out and answers 500, as Consul's agent
// does, for others.
type fakeAgent struct {
	mu       sync.Mutex
	known    map[string]bool
	forced   []string
	requests []request
}

func newFakeAgent(t *testing.T) (*fakeAgent, *httptest.Server) {
	t.Helper()
	f := &fakeAgent{known: map[string]bool{"worker-a": true, "server-1.dc2": true}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
	node, ok := strings.CutPrefix(r.URL.Path, "/v1/agent/force-leave/")
	switch {
	case !ok:
		http.NotFound(w, r)
	case r.Method != http.MethodPut:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case !f.known[node]:
		http.Error(w, "agent: No node found with name '"+node+"'", http.StatusInternalServerError)
	default:
		f.forced = append(f.forced, node)
	}
}

// cli is `tribune force-leave`.
var cli = commandtest.Cmd{New: New}

func forceLeave(node string, query url.Values) request {
	if query == nil {
		query = url.Values{}
	}
	return request{Method: http.MethodPut, Path: "/v1/agent/force-leave/" + node, Query: query}
}

func TestForceLeave(t *testing.T) {
	const usage = "Usage: tribune force-leave [options] name\n"
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantErr    string
		errPrefix  bool
		want       []request
		wantForced []string
	}{
		{name: "node", args: []string{"worker-a"},
			want: []request{forceLeave("worker-a", nil)}, wantForced: []string{"worker-a"}},
		{name: "prune", args: []string{"-prune", "worker-a"},
			want:       []request{forceLeave("worker-a", url.Values{"prune": {"1"}})},
			wantForced: []string{"worker-a"}},
		{name: "wan", args: []string{"-wan", "server-1.dc2"},
			want:       []request{forceLeave("server-1.dc2", url.Values{"wan": {"1"}})},
			wantForced: []string{"server-1.dc2"}},
		{name: "prune wan", args: []string{"-prune", "-wan=true", "server-1.dc2"},
			want:       []request{forceLeave("server-1.dc2", url.Values{"prune": {"1"}, "wan": {"1"}})},
			wantForced: []string{"server-1.dc2"}},
		{name: "unknown node", args: []string{"worker-z"}, wantCode: 1,
			wantErr: "Error force leaving: Unexpected response code: 500 (agent: No node found with name 'worker-z')\n",
			want:    []request{forceLeave("worker-z", nil)}},

		{name: "no node", args: []string{"-prune"}, wantCode: 1, errPrefix: true,
			wantErr: "A single node name must be specified to force leave.\n\n" + usage},
		{name: "two nodes", args: []string{"worker-a", "worker-b"}, wantCode: 1, errPrefix: true,
			wantErr: "A single node name must be specified to force leave.\n\n" + usage},
		{name: "flag after node", args: []string{"worker-a", "-prune"}, wantCode: 1, errPrefix: true,
			wantErr: "A single node name must be specified to force leave.\n\n" + usage},
		{name: "unknown flag", args: []string{"-purge", "worker-a"}, wantCode: 1, errPrefix: true,
			wantErr: "flag provided but not defined: -purge\n" + usage},
		{name: "help", args: []string{"-help"}, errPrefix: true,
			wantErr: usage + "\n  Forces a member of the cluster to enter the \"left\" state."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAgent(t)
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			// As Consul's, the command prints nothing on success.
			commandtest.Check(t, code, out, errOut, tt.wantCode, "", tt.wantErr, tt.errPrefix)
			f.mu.Lock()
			defer f.mu.Unlock()
			commandtest.CheckRequests(t, f.requests, tt.want)
			if (len(f.forced) != 0 || len(tt.wantForced) != 0) && !reflect.DeepEqual(f.forced, tt.wantForced) {
				t.Errorf("forced = %v, want %v", f.forced, tt.wantForced)
			}
		})
	}
}

func TestHTTPClient(t *testing.T) {
	commandtest.CheckHTTPClient(t, commandtest.HTTPClient{
		Cmd:  cli,
		Args: []string{"worker-a"},
		Agent: func(t *testing.T) (string, func(*testing.T)) {
			f, srv := newFakeAgent(t)
			return srv.URL, func(t *testing.T) {
				f.mu.Lock()
				defer f.mu.Unlock()
				if !reflect.DeepEqual(f.forced, []string{"worker-a"}) {
					t.Errorf("forced = %v", f.forced)
				}
			}
		},
		Help: map[string][]string{"": {"-prune", "-wan"}},
		Down: []commandtest.Down{{
			Args: []string{"worker-a"},
			Err: func(addr string) string {
				return "Error force leaving: Put \"" + addr + "/v1/agent/force-leave/worker-a\": "
			},
		}},
	})
}
