package forceleave

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// New is a command.Factory, as main wires it.
var _ command.Factory = New

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

// run runs `tribune force-leave ARGS...` against srvURL and returns the
// exit code and what it wrote to stdout and stderr.
func run(t *testing.T, srvURL string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("CONSUL_HTTP_ADDR", "")
	t.Setenv("TRIBUNE_HTTP_ADDR", "")
	if srvURL != "" {
		args = append([]string{"-http-addr=" + srvURL}, args...)
	}
	var out, errb bytes.Buffer
	code := New(command.IO{Out: &out, Err: &errb}).Run(context.Background(), args)
	return code, out.String(), errb.String()
}

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
			code, out, errOut := run(t, srv.URL, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			// As Consul's, the command prints nothing on success.
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if tt.errPrefix && !strings.HasPrefix(errOut, tt.wantErr) || !tt.errPrefix && errOut != tt.wantErr {
				t.Errorf("stderr = %q, want %q (prefix %v)", errOut, tt.wantErr, tt.errPrefix)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if (len(f.requests) != 0 || len(tt.want) != 0) && !reflect.DeepEqual(f.requests, tt.want) {
				t.Errorf("requests = %+v, want %+v", f.requests, tt.want)
			}
			if (len(f.forced) != 0 || len(tt.wantForced) != 0) && !reflect.DeepEqual(f.forced, tt.wantForced) {
				t.Errorf("forced = %v, want %v", f.forced, tt.wantForced)
			}
		})
	}
}

func TestHTTPAddrFromEnv(t *testing.T) {
	f, srv := newFakeAgent(t)
	var out, errb bytes.Buffer
	t.Setenv("TRIBUNE_HTTP_ADDR", "")
	t.Setenv("CONSUL_HTTP_ADDR", srv.URL)
	code := New(command.IO{Out: &out, Err: &errb}).Run(context.Background(), []string{"worker-a"})
	if code != 0 || out.String() != "" || errb.String() != "" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !reflect.DeepEqual(f.forced, []string{"worker-a"}) {
		t.Errorf("forced = %v", f.forced)
	}
}

func TestHelpListsFlags(t *testing.T) {
	code, out, errOut := run(t, "", "-h")
	if code != 0 || out != "" {
		t.Errorf("-h: exit code %d, stdout %q", code, out)
	}
	for _, fl := range []string{"-prune\n", "-wan\n", "-http-addr string"} {
		if !strings.Contains(errOut, "  "+fl) {
			t.Errorf("-h does not list %q:\n%s", fl, errOut)
		}
	}
}

func TestAgentDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	code, out, errOut := run(t, addr, "worker-a")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "Error force leaving: Put \""+addr+"/v1/agent/force-leave/worker-a\": ") {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestBadAddress(t *testing.T) {
	code, out, errOut := run(t, "ftp://127.0.0.1:8500", "worker-a")
	if code != 1 || out != "" || errOut != "Error connecting to Consul agent: Unknown protocol scheme: ftp\n" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestCanceled checks that a canceled context ends a force-leave the agent
// does not answer: Agent().ForceLeaveOptions takes no context.
func TestCanceled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	t.Setenv("CONSUL_HTTP_ADDR", "")
	t.Setenv("TRIBUNE_HTTP_ADDR", "")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- New(command.IO{Out: &out, Err: &errb}).Run(ctx, []string{"-http-addr=" + srv.URL, "worker-a"})
	}()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(errb.String(), "context deadline exceeded") {
			t.Errorf("exit code %d, stderr %q; want 1 and the context's error", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not end with its context")
	}
}
