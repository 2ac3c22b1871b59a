package operator

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// New is a command.Factory, as main wires it.
var _ command.Factory = New

// fakeAgent answers /v1/operator/raft/configuration with Consul's JSON and
// DELETE /v1/operator/raft/peer for the one peer it knows.
type fakeAgent struct {
	mu       sync.Mutex
	requests []string
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/operator/raft/configuration":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Servers":[` +
			`{"ID":"0f8a3e1c-2b1d-4c5e-9f00-000000000001","Node":"s1","Address":"10.0.0.1:8300","Leader":false,"Voter":true,"ProtocolVersion":"3"},` +
			`{"ID":"0f8a3e1c-2b1d-4c5e-9f00-000000000002","Node":"server-two","Address":"10.0.0.2:8300","Leader":true,"Voter":true,"ProtocolVersion":"3"},` +
			`{"ID":"12345","Node":"(unknown)","Address":"10.0.0.3:8300","Leader":false,"Voter":false,"ProtocolVersion":""}` +
			`],"Index":12}`))
	case r.Method == http.MethodDelete && r.URL.Path == "/v1/operator/raft/peer":
		q := r.URL.Query()
		if q.Get("id") == "12345" || q.Get("address") == "10.0.0.3:8300" {
			return
		}
		http.Error(w, `id "`+q.Get("id")+`" was not found in the Raft configuration`, http.StatusNotFound)
	default:
		http.NotFound(w, r)
	}
}

func TestOperatorRaft(t *testing.T) {
	f := &fakeAgent{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
		request  string
	}{
		{"list-peers", []string{"raft", "list-peers", "-http-addr", addr}, 0,
			"Node        ID                                    Address        State     Voter  RaftProtocol\n" +
				"s1          0f8a3e1c-2b1d-4c5e-9f00-000000000001  10.0.0.1:8300  follower  true   3\n" +
				"server-two  0f8a3e1c-2b1d-4c5e-9f00-000000000002  10.0.0.2:8300  leader    true   3\n" +
				"(unknown)   12345                                 10.0.0.3:8300  follower  false  <=1\n",
			"", "GET /v1/operator/raft/configuration"},
		{"list-peers -stale", []string{"raft", "list-peers", "-stale", "-http-addr", addr}, 0, "", "",
			"GET /v1/operator/raft/configuration?stale="},
		{"remove-peer by id", []string{"raft", "remove-peer", "-id", "12345", "-http-addr", addr}, 0,
			"Removed peer with id \"12345\"\n", "", "DELETE /v1/operator/raft/peer?id=12345"},
		{"remove-peer by address", []string{"raft", "remove-peer", "-address", "10.0.0.3:8300", "-http-addr", addr}, 0,
			"Removed peer with address \"10.0.0.3:8300\"\n", "", "DELETE /v1/operator/raft/peer?address=10.0.0.3%3A8300"},
		{"remove-peer unknown", []string{"raft", "remove-peer", "-id", "nope", "-http-addr", addr}, 1,
			"", "was not found in the Raft configuration", "DELETE /v1/operator/raft/peer?id=nope"},
		{"remove-peer without a peer", []string{"raft", "remove-peer", "-http-addr", addr}, 1,
			"", "an address or id is required", ""},
		{"remove-peer with both", []string{"raft", "remove-peer", "-id", "a", "-address", "b", "-http-addr", addr}, 1,
			"", "cannot give both", ""},
		{"unknown subcommand", []string{"raft", "nope"}, 1, "", "Unknown subcommand", ""},
		{"positional arguments", []string{"raft", "list-peers", "-http-addr", addr, "extra"}, 1, "", "Too many arguments", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.requests = nil
			f.mu.Unlock()
			var out, errOut bytes.Buffer
			code := New(command.IO{Out: &out, Err: &errOut}).Run(context.Background(), tt.args)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, errOut.String())
			}
			if tt.out != "" && out.String() != tt.out {
				t.Fatalf("stdout:\n%s\nwant:\n%s", out.String(), tt.out)
			}
			if !strings.Contains(errOut.String(), tt.err) {
				t.Fatalf("stderr %q, want %q", errOut.String(), tt.err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if tt.request == "" && len(f.requests) != 0 || tt.request != "" && (len(f.requests) != 1 || f.requests[0] != tt.request) {
				t.Fatalf("requests %q, want %q", f.requests, tt.request)
			}
		})
	}
}
