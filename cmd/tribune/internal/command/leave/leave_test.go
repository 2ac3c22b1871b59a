package leave

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

// run runs `tribune leave ARGS...` against srvURL and returns the exit
// code and what it wrote to stdout and stderr.
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
			code, out, errOut := run(t, srv.URL, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if out != tt.wantOut {
				t.Errorf("stdout = %q, want %q", out, tt.wantOut)
			}
			if tt.errPrefix && !strings.HasPrefix(errOut, tt.wantErr) || !tt.errPrefix && errOut != tt.wantErr {
				t.Errorf("stderr = %q, want %q (prefix %v)", errOut, tt.wantErr, tt.errPrefix)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if (len(f.requests) != 0 || len(tt.want) != 0) && !reflect.DeepEqual(f.requests, tt.want) {
				t.Errorf("requests = %+v, want %+v", f.requests, tt.want)
			}
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

func TestHTTPAddrFromEnv(t *testing.T) {
	f, srv := newFakeAgent(t)
	var out, errb bytes.Buffer
	t.Setenv("TRIBUNE_HTTP_ADDR", "")
	t.Setenv("CONSUL_HTTP_ADDR", srv.URL)
	code := New(command.IO{Out: &out, Err: &errb}).Run(context.Background(), nil)
	if code != 0 || out.String() != "Graceful leave complete\n" || errb.String() != "" || f.left != 1 {
		t.Errorf("exit code %d, stdout %q, stderr %q, leaves %d", code, out.String(), errb.String(), f.left)
	}
}

func TestHelpListsFlags(t *testing.T) {
	code, out, errOut := run(t, "", "-h")
	if code != 0 || out != "" || !strings.Contains(errOut, "  -http-addr string") {
		t.Errorf("-h: exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestAgentDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	code, out, errOut := run(t, addr)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "Error leaving: Put \""+addr+"/v1/agent/leave\": ") {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestBadAddress(t *testing.T) {
	code, out, errOut := run(t, "ftp://127.0.0.1:8500")
	if code != 1 || out != "" || errOut != "Error connecting to Consul agent: Unknown protocol scheme: ftp\n" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestCanceled checks that a canceled context ends a leave the agent does
// not answer: Agent().Leave takes no context.
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
	go func() { done <- New(command.IO{Out: &out, Err: &errb}).Run(ctx, []string{"-http-addr=" + srv.URL}) }()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(errb.String(), "context deadline exceeded") {
			t.Errorf("exit code %d, stderr %q; want 1 and the context's error", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not end with its context")
	}
}
