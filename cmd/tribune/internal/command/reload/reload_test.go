package reload

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

// run runs `tribune reload ARGS...` and returns the exit code and what it
// wrote to stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("CONSUL_HTTP_ADDR", "")
	t.Setenv("TRIBUNE_HTTP_ADDR", "")
	var out, errb bytes.Buffer
	code := New(command.IO{Out: &out, Err: &errb}).Run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestReload(t *testing.T) {
	reload := request{Method: http.MethodPut, Path: "/v1/agent/reload", Query: url.Values{}}
	tests := []struct {
		name      string
		args      []string // after -http-addr
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
			code, out, errOut := run(t, append([]string{"-http-addr=" + srv.URL}, tt.args...)...)
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

func TestHTTPAddrFromEnv(t *testing.T) {
	f, srv := newFakeAgent(t)
	var out, errb bytes.Buffer
	t.Setenv("TRIBUNE_HTTP_ADDR", "")
	t.Setenv("CONSUL_HTTP_ADDR", srv.URL)
	code := New(command.IO{Out: &out, Err: &errb}).Run(context.Background(), nil)
	if code != 0 || out.String() != "Configuration reload triggered\n" || errb.String() != "" || f.reloads != 1 {
		t.Errorf("exit code %d, stdout %q, stderr %q, reloads %d", code, out.String(), errb.String(), f.reloads)
	}
}

func TestHelpListsFlags(t *testing.T) {
	code, out, errOut := run(t, "-h")
	if code != 0 || out != "" || !strings.Contains(errOut, "  -http-addr string") {
		t.Errorf("-h: exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestAgentDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	code, out, errOut := run(t, "-http-addr="+addr)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "Error reloading: Put \""+addr+"/v1/agent/reload\": ") {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestBadAddress(t *testing.T) {
	code, out, errOut := run(t, "-http-addr=ftp://127.0.0.1:8500")
	if code != 1 || out != "" || errOut != "Error connecting to Consul agent: Unknown protocol scheme: ftp\n" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestCanceled checks that a canceled context ends a reload the agent does
// not answer: Agent().Reload takes no context.
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
