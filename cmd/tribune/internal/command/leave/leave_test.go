package leave

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
}

// fakeAgent fakes PUT /v1/agent/leave.
type fakeAgent struct {
	mu       sync.Mutex
	left     int
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
	f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
	switch {
	case f.fail != "":
		http.Error(w, f.fail, http.StatusInternalServerError)
	case r.URL.Path != "/v1/agent/leave":
		http.NotFound(w, r)
	case r.Method != http.MethodPut:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		f.left++
	}
}

// cli is `tribune leave`.
var cli = commandtest.Cmd{New: New}

func TestLeave(t *testing.T) {
	leave := request{Method: http.MethodPut, Path: "/v1/agent/leave", Query: url.Values{}}
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
		{name: "leave", wantOut: "Graceful leave complete\n", want: []request{leave}},
		{name: "agent error", fail: "Permission denied", wantCode: 1,
			wantErr: "Error leaving: Unexpected response code: 500 (Permission denied)\n",
			want:    []request{leave}},
		{name: "arguments", args: []string{"now", "please"}, wantCode: 1, errPrefix: true,
			wantErr: "Error found unexpected args: [now please]\nUsage: tribune leave [options]\n"},
		{name: "unknown flag", args: []string{"-force"}, wantCode: 1, errPrefix: true,
			wantErr: "flag provided but not defined: -force\nUsage: tribune leave [options]\n"},
		{name: "help", args: []string{"-help"}, errPrefix: true,
			wantErr: "Usage: tribune leave [options]\n\n  Causes the agent to gracefully leave the cluster and shutdown.\n"},
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
			wantLeft := 0
			if tt.wantCode == 0 && len(tt.want) > 0 {
				wantLeft = 1
			}
			if f.left != wantLeft {
				t.Errorf("leaves = %d, want %d", f.left, wantLeft)
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
				if f.left != 1 {
					t.Errorf("leaves = %d, want 1", f.left)
				}
			}
		},
		Out:  "Graceful leave complete\n",
		Down: []commandtest.Down{{Err: func(addr string) string { return "Error leaving: Put \"" + addr + "/v1/agent/leave\": " }}},
	})
}
