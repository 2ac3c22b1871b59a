package reload

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/tribune/tribune/cmd/tribune/internal/command/commandtest"
)

// request is a request the fake agent received.
type request struct {
	Method, Path string
	Query        url.Values
	BodyLen      int64
}

// fakeAgent fakes PUT /v1/agent/reload.
type fakeAgent struct {
	mu       sync.Mutex
	reloads  int
	requests []request
	// fail, when set, answers every request 500 with this body.
	fail string
}

func newFakeAgent(t *testing.T) (*fakeAgent, *httptest.Server) {
	t.Helper()
	f := &fakeAgent{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), BodyLen: r.ContentLength})
	switch {
	case f.fail != "":
		http.Error(w, f.fail, http.StatusInternalServerError)
	case r.URL.Path != "/v1/agent/reload":
		http.NotFound(w, r)
	case r.Method != http.MethodPut:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		f.reloads++
	}
}

// cli is `tribune reload`.
var cli = commandtest.Cmd{New: New}

func TestReload(t *testing.T) {
	reload := request{Method: http.MethodPut, Path: "/v1/agent/reload", Query: url.Values{}}
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
		{name: "reload", wantOut: "Configuration reload triggered\n", want: []request{reload}},
		{name: "agent error", fail: "Failed reloading services: boom", wantCode: 1,
			wantErr: "Error reloading: Unexpected response code: 500 (Failed reloading services: boom)\n",
			want:    []request{reload}},
		{name: "arguments", args: []string{"now"}, wantCode: 1,
			wantErr: "Too many arguments (expected 0, got 1)\n"},
		{name: "unknown flag", args: []string{"-force"}, wantCode: 1, errPrefix: true,
			wantErr: "flag provided but not defined: -force\nUsage: tribune reload [options]\n"},
		{name: "help", args: []string{"-help"}, errPrefix: true,
			wantErr: "Usage: tribune reload [options]\n\n  Causes the agent to reload configurations."},
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
			wantReloads := 0
			if tt.wantCode == 0 && len(tt.want) > 0 {
				wantReloads = 1
			}
			if f.reloads != wantReloads {
				t.Errorf("reloads = %d, want %d", f.reloads, wantReloads)
			}
		})
	}
}

func TestHTTPClient(t *testing.T) {
	commandtest.CheckHTTPClient(t, commandtest.HTTPClient{
		Cmd: cli,
		Agent: func(t *testing.T) (string, func(*testing.T)) {
			f, srv := newFakeAgent(t)
			return srv.URL, func(t *testing.T) {
				f.mu.Lock()
				defer f.mu.Unlock()
				if f.reloads != 1 {
					t.Errorf("reloads = %d, want 1", f.reloads)
				}
			}
		},
		Out: "Configuration reload triggered\n",
		Down: []commandtest.Down{{Err: func(addr string) string {
			return "Error reloading: Put \"" + addr + "/v1/agent/reload\": "
		}}},
	})
}
