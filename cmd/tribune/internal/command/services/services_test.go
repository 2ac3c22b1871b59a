package services

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tribune/tribune/cmd/tribune/internal/command/commandtest"
)

// request is a request the fake agent received.
type request struct {
	Method, Path string
	Query        url.Values
	// Body is the JSON body decoded, nil when there is none.
	Body any
}

// fakeAgent fakes the agent endpoints the services commands use:
//
//	PUT /v1/agent/service/register
//	PUT /v1/agent/service/deregister/:id
type fakeAgent struct {
	mu       sync.Mutex
	services map[string]bool // by ID
	requests []request
	// fail, when it has the request's path, answers it 500 with this body.
	fail map[string]string
	// refuse, when it has a registration's service name, answers it 400
	// with this body.
	refuse map[string]string
}

func newFakeAgent(t *testing.T, ids ...string) (*fakeAgent, *httptest.Server) {
	t.Helper()
	f := &fakeAgent{services: map[string]bool{}, fail: map[string]string{}, refuse: map[string]string{}}
	for _, id := range ids {
		f.services[id] = true
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&req.Body); err != nil {
			http.Error(w, "Request decode failed: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	f.requests = append(f.requests, req)
	if body, ok := f.fail[r.URL.Path]; ok {
		http.Error(w, body, http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPut {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == "/v1/agent/service/register":
		svc, _ := req.Body.(map[string]any)
		name, _ := svc["Name"].(string)
		id, _ := svc["ID"].(string)
		if name == "" {
			http.Error(w, "Missing service name", http.StatusBadRequest)
			return
		}
		if body, ok := f.refuse[name]; ok {
			http.Error(w, body, http.StatusBadRequest)
			return
		}
		if id == "" {
			id = name
		}
		f.services[id] = true
	case strings.HasPrefix(p, "/v1/agent/service/deregister/"):
		id := strings.TrimPrefix(p, "/v1/agent/service/deregister/")
		if !f.services[id] {
			http.Error(w, fmt.Sprintf("Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id), http.StatusNotFound)
			return
		}
		delete(f.services, id)
	default:
		http.NotFound(w, r)
	}
}

// cli is `tribune services`.
var cli = commandtest.Cmd{New: New, Family: true}

// put is a PUT the commands send, with its JSON body (as it would decode).
func put(path, body string) request {
	r := request{Method: http.MethodPut, Path: path, Query: url.Values{}}
	if body != "" {
		if err := json.Unmarshal([]byte(body), &r.Body); err != nil {
			panic(fmt.Sprintf("bad test body %s: %v", body, err))
		}
	}
	return r
}

// register is the registration request for a service whose fields (in
// the HTTP API's JSON) are fields; api.AgentServiceRegistration always
// sends Check and Checks.
func register(fields string) request {
	if fields != "" {
		fields = "," + fields
	}
	return put("/v1/agent/service/register", `{"Check":null,"Checks":null`+fields+`}`)
}

func checkRequests(t *testing.T, f *fakeAgent, want []request) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	commandtest.CheckRequests(t, f.requests, want)
}

// writeFiles writes name → contents in a new directory and returns its
// path.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, contents := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRegister(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"web.json": `{
  "service": {
    "id": "web-1",
    "name": "web",
    "tags": ["v1", "primary"],
    "address": "10.0.0.5",
    "port": 8080,
    "meta": {"redis_version": "4.0"},
    "enable_tag_override": true,
    "check": {"http": "http://localhost:8080/health", "interval": "10s", "timeout": "1s"}
  }
}`,
		"consul-case.json": `{ "Service": { "Name": "web" } }`,
		"many.json": `{"services": [
  {"name": "db", "port": 5432, "checks": [{"id": "db-tcp", "tcp": "localhost:5432", "interval": "5s"}]},
  {"name": "cache", "id": "cache-1"}
]}`,
		"db.json":       `{"service": {"name": "db", "port": 5432}}`,
		"unknown.json":  `{"datacenter": "dc1", "service": {"name": "web", "token": "s3cr3t", "check": {"ttl": "30s", "output_max_size": 4096}}}`,
		"bare.json":     `{"name": "web", "port": 8080}`,
		"noname.json":   `{"services": [{"name": "a"}, {"port": 1}]}`,
		"notobj.json":   `{"services": ["web"]}`,
		"badport.json":  `{"service": {"name": "web", "port": "http"}}`,
		"list.json":     `[{"name": "web"}]`,
		"broken.json":   "{\n  \"service\": {\n    \"name\": \"web\",\n  }\n}",
		"web.conf":      `service { name = "web" }`,
		"web.hcl":       `service { name = "web" }`,
		"empty.json":    ``,
		"trailing.json": `{"service": {"name": "web"}} {}`,
		"three.json":    `{"services": [{"name": "a"}, {"name": "b", "kind": "bogus"}, {"name": "c"}]}`,
	})
	file := func(name string) string { return filepath.Join(dir, name) }

	tests := []struct {
		name      string
		args      []string
		fail      string            // the agent answers the registration 500 with this
		refuse    map[string]string // the agent answers these services' registration 400
		wantCode  int
		wantOut   string
		wantErr   string
		errPrefix bool
		want      []request
	}{
		{name: "name only", args: []string{"register", "-name=web"},
			wantOut: "Registered service: web\n",
			want:    []request{register(`"Name":"web"`)}},
		{name: "all flags", args: []string{"register", "-id", "web-1", "-name", "web", "-address", "10.0.0.5",
			"-port", "8080", "-tag", "v1", "-tag", "primary", "-meta", "env=prod", "-meta", "note=a=b",
			"-tagged-address", "lan=10.0.0.5:8080", "-tagged-address", "v6=[2001:db8::12]:1234", "-kind", "connect-proxy"},
			wantOut: "Registered service: web\n",
			want: []request{register(`"Kind":"connect-proxy","ID":"web-1","Name":"web","Address":"10.0.0.5","Port":8080,` +
				`"Tags":["v1","primary"],"Meta":{"env":"prod","note":"a=b"},` +
				`"TaggedAddresses":{"lan":{"Address":"10.0.0.5","Port":8080},"v6":{"Address":"2001:db8::12","Port":1234}}`)}},
		{name: "file", args: []string{"register", file("web.json")},
			wantOut: "Registered service: web\n",
			want: []request{register(`"ID":"web-1","Name":"web","Tags":["v1","primary"],"Address":"10.0.0.5","Port":8080,` +
				`"Meta":{"redis_version":"4.0"},"EnableTagOverride":true,` +
				`"Check":{"HTTP":"http://localhost:8080/health","Interval":"10s","Timeout":"1s"},"Checks":null`)}},
		{name: "file in Consul's test case", args: []string{"register", file("consul-case.json")},
			wantOut: "Registered service: web\n",
			want:    []request{register(`"Name":"web"`)}},
		{name: "services list", args: []string{"register", file("many.json")},
			wantOut: "Registered service: db\nRegistered service: cache\n",
			want: []request{
				register(`"Name":"db","Port":5432,"Checks":[{"CheckID":"db-tcp","TCP":"localhost:5432","Interval":"5s"}]`),
				register(`"ID":"cache-1","Name":"cache"`),
			}},
		{name: "several files", args: []string{"register", file("consul-case.json"), file("db.json")},
			wantOut: "Registered service: web\nRegistered service: db\n",
			want:    []request{register(`"Name":"web"`), register(`"Name":"db","Port":5432`)}},
		{name: "flags complete files", args: []string{"register", "-id=x", "-port=9000", "-address=10.0.0.9",
			"-tag=canary", "-meta=redis_version=5.0", "-meta=env=prod", "-kind=connect-proxy", file("web.json"), file("db.json")},
			wantOut: "Registered service: web\nRegistered service: db\n",
			want: []request{
				register(`"Kind":"connect-proxy","ID":"web-1","Name":"web","Tags":["v1","primary","canary"],"Address":"10.0.0.5","Port":8080,` +
					`"Meta":{"redis_version":"5.0","env":"prod"},"EnableTagOverride":true,` +
					`"Check":{"HTTP":"http://localhost:8080/health","Interval":"10s","Timeout":"1s"},"Checks":null`),
				register(`"Kind":"connect-proxy","ID":"x","Name":"db","Tags":["canary"],"Address":"10.0.0.9","Port":5432,` +
					`"Meta":{"redis_version":"5.0","env":"prod"}`),
			}},
		{name: "unsupported fields warned about", args: []string{"register", file("unknown.json")},
			wantOut: "Registered service: web\n",
			wantErr: "Warning: " + file("unknown.json") + ": ignoring service.check.output_max_size: not a field Tribune reads\n" +
				"Warning: " + file("unknown.json") + ": ignoring service.token: not a field Tribune reads\n",
			want: []request{register(`"Name":"web","Check":{"TTL":"30s"},"Checks":null`)}},

		{name: "nothing", args: []string{"register"}, wantCode: 1,
			wantErr: "Service registration requires at least one argument or flags.\n"},
		{name: "id without name", args: []string{"register", "-id=web"}, wantCode: 1,
			wantErr: "Service registration requires at least one argument or flags.\n"},
		{name: "files and name", args: []string{"register", "-name=web", file("db.json")}, wantCode: 1,
			wantErr: "Service registration requires arguments or -name, not both.\n"},
		{name: "hcl", args: []string{"register", file("web.hcl")}, wantCode: 1,
			wantErr: "Error: " + file("web.hcl") + ": HCL service definitions are not supported; write the definition in JSON\n"},
		{name: "not json", args: []string{"register", file("web.conf")}, wantCode: 1,
			wantErr: "Error: failed to parse " + file("web.conf") +
				": line 1, column 1: invalid character 's' looking for beginning of value (service definitions must be JSON; HCL is not supported)\n"},
		{name: "broken json", args: []string{"register", file("broken.json")}, wantCode: 1,
			wantErr: "Error: failed to parse " + file("broken.json") +
				": line 4, column 3: invalid character '}' looking for beginning of object key string\n"},
		{name: "empty file", args: []string{"register", file("empty.json")}, wantCode: 1,
			wantErr: "Error: failed to parse " + file("empty.json") + ": the file is empty\n"},
		{name: "trailing data", args: []string{"register", file("trailing.json")}, wantCode: 1,
			wantErr: "Error: failed to parse " + file("trailing.json") + ": unexpected data after the JSON object\n"},
		{name: "missing file", args: []string{"register", file("nope.json")}, wantCode: 1,
			wantErr: "Error: open " + file("nope.json") + ": no such file or directory\n"},
		{name: "bare definition", args: []string{"register", file("bare.json")}, wantCode: 1,
			wantErr: "Error: failed to parse " + file("bare.json") +
				`: no "service" or "services" key: a service definition file looks like {"service": {"name": "web", "port": 8080}}` + "\n"},
		{name: "not an object", args: []string{"register", file("list.json")}, wantCode: 1,
			wantErr: "Error: failed to parse " + file("list.json") + ": expected a JSON object, got array\n"},
		{name: "service not an object", args: []string{"register", file("notobj.json")}, wantCode: 1,
			wantErr: "Error: failed to parse " + file("notobj.json") + ": services[0]: expected a JSON object, got string\n"},
		{name: "service without name", args: []string{"register", file("noname.json")}, wantCode: 1,
			wantErr: "Error: " + file("noname.json") + ": services[1] has no \"name\"\n"},
		{name: "wrong type", args: []string{"register", file("badport.json")}, wantCode: 1,
			wantErr: "Error: failed to parse " + file("badport.json") + ": service: Port must be int, not a JSON string\n"},
		{name: "bad meta", args: []string{"register", "-name=web", "-meta=env"}, wantCode: 1, errPrefix: true,
			wantErr: "invalid value \"env\" for flag -meta: Missing \"=\" value in argument: env\nUsage: tribune services register"},
		{name: "bad tagged address", args: []string{"register", "-name=web", "-tagged-address=lan=10.0.0.1"}, wantCode: 1,
			wantErr: "Invalid Tagged Address: address 10.0.0.1: missing port in address\n"},
		{name: "bad port", args: []string{"register", "-name=web", "-port=70000"}, wantCode: 1,
			wantErr: "Invalid -port 70000: a port is between 1 and 65535\n"},
		{name: "port not a number", args: []string{"register", "-name=web", "-port=http"}, wantCode: 1, errPrefix: true,
			wantErr: "invalid value \"http\" for flag -port: parse error\n"},
		{name: "unknown flag", args: []string{"register", "-name=web", "-socket=/tmp/web.sock"}, wantCode: 1, errPrefix: true,
			wantErr: "flag provided but not defined: -socket\n"},
		{name: "help", args: []string{"register", "-h"}, errPrefix: true,
			wantErr: "Usage: tribune services register [options] [FILE...]\n"},

		{name: "agent error", args: []string{"register", "-name=web"}, fail: "boom", wantCode: 1,
			wantErr: "Error registering service \"web\": Unexpected response code: 500 (boom)\n",
			want:    []request{register(`"Name":"web"`)}},
		{name: "stops at the first refusal", args: []string{"register", file("three.json")},
			refuse: map[string]string{"b": `Invalid service kind: "bogus"`}, wantCode: 1,
			wantOut: "Registered service: a\n",
			wantErr: "Error registering service \"b\": Unexpected response code: 400 (Invalid service kind: \"bogus\")\n",
			want:    []request{register(`"Name":"a"`), register(`"Kind":"bogus","Name":"b"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAgent(t)
			if tt.fail != "" {
				f.fail["/v1/agent/service/register"] = tt.fail
			}
			for name, body := range tt.refuse {
				f.refuse[name] = body
			}
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.Check(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr, tt.errPrefix)
			checkRequests(t, f, tt.want)
		})
	}
}

func TestDeregister(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"web.json":    `{"service": {"id": "web-1", "name": "web", "port": 8080}}`,
		"db.json":     `{"Service": {"Name": "db", "Token": "ignored"}}`,
		"many.json":   `{"services": [{"name": "cache", "id": "cache-1"}, {"name": "db"}]}`,
		"noid.json":   `{"service": {"port": 8080}}`,
		"broken.json": `{"service": `,
	})
	file := func(name string) string { return filepath.Join(dir, name) }
	dereg := func(id string) request { return put("/v1/agent/service/deregister/"+id, "") }

	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantOut   string
		wantErr   string
		errPrefix bool
		want      []request
	}{
		{name: "id", args: []string{"deregister", "-id=web-1"},
			wantOut: "Deregistered service: web-1\n", want: []request{dereg("web-1")}},
		{name: "file id", args: []string{"deregister", file("web.json")},
			wantOut: "Deregistered service: web-1\n", want: []request{dereg("web-1")}},
		{name: "file name for id", args: []string{"deregister", file("db.json")},
			wantOut: "Deregistered service: db\n", want: []request{dereg("db")}},
		{name: "files", args: []string{"deregister", file("many.json"), file("web.json")},
			wantOut: "Deregistered service: cache-1\nDeregistered service: db\nDeregistered service: web-1\n",
			want:    []request{dereg("cache-1"), dereg("db"), dereg("web-1")}},
		{name: "unknown service", args: []string{"deregister", "-id=web"}, wantCode: 1,
			wantErr: "Error deregistering service \"web\": Unexpected response code: 404 " +
				"(Unknown service ID \"web\". Ensure that the service ID is passed, not the service name.)\n",
			want: []request{dereg("web")}},
		{name: "nothing", args: []string{"deregister"}, wantCode: 1,
			wantErr: "Service deregistration requires at least one argument or -id.\n"},
		{name: "files and id", args: []string{"deregister", "-id=web-1", file("web.json")}, wantCode: 1,
			wantErr: "Service deregistration requires arguments or -id, not both.\n"},
		{name: "no id or name", args: []string{"deregister", file("noid.json")}, wantCode: 1,
			wantErr: "Error: " + file("noid.json") + ": service has neither \"id\" nor \"name\"\n"},
		{name: "broken file", args: []string{"deregister", file("broken.json")}, wantCode: 1,
			wantErr: "Error: failed to parse " + file("broken.json") + ": unexpected EOF\n"},
		{name: "hcl", args: []string{"deregister", file("web.hcl")}, wantCode: 1,
			wantErr: "Error: " + file("web.hcl") + ": HCL service definitions are not supported; write the definition in JSON\n"},
		{name: "unknown flag", args: []string{"deregister", "-name=web"}, wantCode: 1, errPrefix: true,
			wantErr: "flag provided but not defined: -name\nUsage: tribune services deregister [options] [FILE...]\n"},
		{name: "help", args: []string{"deregister", "-help"}, errPrefix: true,
			wantErr: "Usage: tribune services deregister [options] [FILE...]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAgent(t, "web-1", "db", "cache-1")
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.Check(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr, tt.errPrefix)
			checkRequests(t, f, tt.want)
		})
	}
}

// TestRegisterThenDeregister registers services from a file and
// deregisters them with the same file.
func TestRegisterThenDeregister(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"svcs.json": `{"services": [{"name": "web", "id": "web-1"}, {"name": "db"}]}`,
	})
	f, srv := newFakeAgent(t)
	name := filepath.Join(dir, "svcs.json")
	code, out, errOut := cli.Run(t, srv.URL, "register", name)
	commandtest.Check(t, code, out, errOut, 0, "Registered service: web\nRegistered service: db\n", "", false)
	code, out, errOut = cli.Run(t, srv.URL, "deregister", name)
	commandtest.Check(t, code, out, errOut, 0, "Deregistered service: web-1\nDeregistered service: db\n", "", false)
	if len(f.services) != 0 {
		t.Errorf("services left: %v", f.services)
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "no subcommand", args: nil, wantCode: 1, wantErr: "Usage: tribune services <subcommand>"},
		{name: "help", args: []string{"-h"}, wantErr: "Subcommands:\n" +
			"    deregister   Deregister services with the local agent\n" +
			"    register     Register services with the local agent\n"},
		{name: "unknown subcommand", args: []string{"list"}, wantCode: 1, wantErr: "Unknown subcommand: \"list\"\n\nUsage: tribune services"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli.Run(t, "", tt.args...)
			if code != tt.wantCode || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit code %d, stdout %q, stderr %q; want %d, \"\", containing %q", code, out, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestHTTPClient(t *testing.T) {
	commandtest.CheckHTTPClient(t, commandtest.HTTPClient{
		Cmd:  cli,
		Args: []string{"register", "-name=web"},
		Agent: func(t *testing.T) (string, func(*testing.T)) {
			f, srv := newFakeAgent(t)
			return srv.URL, func(t *testing.T) { checkRequests(t, f, []request{register(`"Name":"web"`)}) }
		},
		Out: "Registered service: web\n",
		Help: map[string][]string{
			"register": {"-address string", "-id string", "-kind string", "-meta key=value", "-name string",
				"-port int", "-tag value", "-tagged-address key=host:port"},
			"deregister": {"-id string"},
		},
		Down: []commandtest.Down{
			{Args: []string{"register", "-name=web"}, Err: func(addr string) string {
				return `Error registering service "web": Put "` + addr + `/v1/agent/service/register": `
			}},
			{Args: []string{"deregister", "-id=web"}, Err: func(addr string) string {
				return `Error deregistering service "web": Put "` + addr + `/v1/agent/service/deregister/web": `
			}},
		},
	})
}

func TestDatacenterFlag(t *testing.T) {
	f, srv := newFakeAgent(t, "web")
	code, out, errOut := cli.Run(t, srv.URL, "deregister", "-datacenter=dc2", "-id=web")
	commandtest.Check(t, code, out, errOut, 0, "Deregistered service: web\n", "", false)
	want := put("/v1/agent/service/deregister/web", "")
	want.Query = url.Values{"dc": {"dc2"}}
	checkRequests(t, f, []request{want})
}
