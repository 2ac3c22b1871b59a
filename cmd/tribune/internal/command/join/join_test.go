package join

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

// fakeAgent fakes PUT /v1/agent/join/:address[?wan=1]: it joins the
// addresses it knows and answers 500, as Consul's agent does, for others.
type fakeAgent struct {
	mu       sync.Mutex
	known    map[string]bool
	joined   []string
	requests []request
}

func newFakeAgent(t *testing.T) (*fakeAgent, *httptest.Server) {
	t.Helper()
	f := &fakeAgent{known: map[string]bool{"10.0.0.5": true, "10.0.0.6:8301": true, "[fe80::1]:8302": true}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
	addr, ok := strings.CutPrefix(r.URL.Path, "/v1/agent/join/")
	switch {
	case !ok:
		http.NotFound(w, r)
	case r.Method != http.MethodPut:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case !f.known[addr]:
		http.Error(w, "1 error occurred:\n\t* Failed to join "+addr+": dial tcp "+addr+": connect: connection refused\n\n",
			http.StatusInternalServerError)
	default:
		f.joined = append(f.joined, addr)
		// Consul's agent answers an empty 200.
	}
}

// cli is `tribune join`.
var cli = commandtest.Cmd{New: New}

func join(addr string, wan bool) request {
	q := url.Values{}
	if wan {
		q.Set("wan", "1")
	}
	return request{Method: http.MethodPut, Path: "/v1/agent/join/" + addr, Query: q}
}

func refused(addr string) string {
	return "Error joining address '" + addr + "': Unexpected response code: 500 (1 error occurred:\n\t* Failed to join " +
		addr + ": dial tcp " + addr + ": connect: connection refused)\n"
}

func TestJoin(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantErr    string
		errPrefix  bool
		want       []request
		wantJoined []string
	}{
		{name: "one", args: []string{"10.0.0.5"},
			wantOut: "Successfully joined cluster by contacting 1 nodes.\n",
			want:    []request{join("10.0.0.5", false)}, wantJoined: []string{"10.0.0.5"}},
		{name: "several", args: []string{"10.0.0.5", "10.0.0.6:8301"},
			wantOut:    "Successfully joined cluster by contacting 2 nodes.\n",
			want:       []request{join("10.0.0.5", false), join("10.0.0.6:8301", false)},
			wantJoined: []string{"10.0.0.5", "10.0.0.6:8301"}},
		{name: "wan ipv6", args: []string{"-wan", "[fe80::1]:8302"},
			wantOut: "Successfully joined cluster by contacting 1 nodes.\n",
			want:    []request{join("[fe80::1]:8302", true)}, wantJoined: []string{"[fe80::1]:8302"}},
		{name: "some fail", args: []string{"10.0.0.99", "10.0.0.5", "10.0.0.98:8301"},
			wantOut:    "Successfully joined cluster by contacting 1 nodes.\n",
			wantErr:    refused("10.0.0.99") + refused("10.0.0.98:8301"),
			want:       []request{join("10.0.0.99", false), join("10.0.0.5", false), join("10.0.0.98:8301", false)},
			wantJoined: []string{"10.0.0.5"}},
		{name: "all fail", args: []string{"-wan", "10.0.0.99", "10.0.0.98"}, wantCode: 1,
			wantErr: refused("10.0.0.99") + refused("10.0.0.98") + "Failed to join any nodes.\n",
			want:    []request{join("10.0.0.99", true), join("10.0.0.98", true)}},

		{name: "no address", args: nil, wantCode: 1, errPrefix: true,
			wantErr: "At least one address to join must be specified.\n\nUsage: tribune join [options] address ...\n"},
		{name: "no address with wan", args: []string{"-wan"}, wantCode: 1, errPrefix: true,
			wantErr: "At least one address to join must be specified.\n\nUsage: tribune join"},
		{name: "unknown flag", args: []string{"-lan", "10.0.0.5"}, wantCode: 1, errPrefix: true,
			wantErr: "flag provided but not defined: -lan\nUsage: tribune join [options] address ...\n"},
		{name: "help", args: []string{"-help"}, errPrefix: true,
			wantErr: "Usage: tribune join [options] address ...\n\n  Tells a running agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAgent(t)
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.Check(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr, tt.errPrefix)
			f.mu.Lock()
			defer f.mu.Unlock()
			commandtest.CheckRequests(t, f.requests, tt.want)
			if (len(f.joined) != 0 || len(tt.wantJoined) != 0) && !reflect.DeepEqual(f.joined, tt.wantJoined) {
				t.Errorf("joined = %v, want %v", f.joined, tt.wantJoined)
			}
		})
	}
}

func TestHTTPClient(t *testing.T) {
	commandtest.CheckHTTPClient(t, commandtest.HTTPClient{
		Cmd:  cli,
		Args: []string{"10.0.0.5"},
		Agent: func(t *testing.T) (string, func(*testing.T)) {
			f, srv := newFakeAgent(t)
			return srv.URL, func(t *testing.T) {
				f.mu.Lock()
				defer f.mu.Unlock()
				if !reflect.DeepEqual(f.joined, []string{"10.0.0.5"}) {
					t.Errorf("joined = %v", f.joined)
				}
			}
		},
		Out:  "Successfully joined cluster by contacting 1 nodes.\n",
		Help: map[string][]string{"": {"-wan"}},
		Down: []commandtest.Down{{
			Args: []string{"10.0.0.5"},
			Err: func(addr string) string {
				return "Error joining address '10.0.0.5': Put \"" + addr + "/v1/agent/join/10.0.0.5\": "
			},
			ErrEnd: "\nFailed to join any nodes.\n",
		}},
	})
}
