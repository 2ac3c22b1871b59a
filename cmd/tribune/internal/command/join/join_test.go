package join

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

// run runs `tribune join ARGS...` against srvURL and returns the exit code
// and what it wrote to stdout and stderr.
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
			if (len(f.joined) != 0 || len(tt.wantJoined) != 0) && !reflect.DeepEqual(f.joined, tt.wantJoined) {
				t.Errorf("joined = %v, want %v", f.joined, tt.wantJoined)
			}
		})
	}
}

func TestHTTPAddrFromEnv(t *testing.T) {
	f, srv := newFakeAgent(t)
	var out, errb bytes.Buffer
	t.Setenv("TRIBUNE_HTTP_ADDR", "")
	t.Setenv("CONSUL_HTTP_ADDR", srv.URL)
	code := New(command.IO{Out: &out, Err: &errb}).Run(context.Background(), []string{"10.0.0.5"})
	if code != 0 || out.String() != "Successfully joined cluster by contacting 1 nodes.\n" || errb.String() != "" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !reflect.DeepEqual(f.joined, []string{"10.0.0.5"}) {
		t.Errorf("joined = %v", f.joined)
	}
}

func TestHelpListsFlags(t *testing.T) {
	code, out, errOut := run(t, "", "-h")
	if code != 0 || out != "" {
		t.Errorf("-h: exit code %d, stdout %q", code, out)
	}
	for _, fl := range []string{"-wan\n", "-http-addr string"} {
		if !strings.Contains(errOut, "  "+fl) {
			t.Errorf("-h does not list %q:\n%s", fl, errOut)
		}
	}
}

func TestAgentDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	code, out, errOut := run(t, addr, "10.0.0.5")
	if code != 1 || out != "" ||
		!strings.HasPrefix(errOut, "Error joining address '10.0.0.5': Put \""+addr+"/v1/agent/join/10.0.0.5\": ") ||
		!strings.HasSuffix(errOut, "\nFailed to join any nodes.\n") {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestBadAddress(t *testing.T) {
	code, out, errOut := run(t, "ftp://127.0.0.1:8500", "10.0.0.5")
	if code != 1 || out != "" || errOut != "Error connecting to Consul agent: Unknown protocol scheme: ftp\n" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestCanceled checks that a canceled context ends a join the agent does
// not answer: Agent().Join takes no context.
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
		done <- New(command.IO{Out: &out, Err: &errb}).Run(ctx, []string{"-http-addr=" + srv.URL, "10.0.0.5"})
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
