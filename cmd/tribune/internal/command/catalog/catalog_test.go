package catalog

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tribune/tribune/cmd/tribune/internal/command/commandtest"
)

// fakeNode is a node of the fake catalog with the services on it.
type fakeNode struct {
	ID, Node, Address, Datacenter string
	TaggedAddresses, Meta         map[string]string
	Services                      []fakeService
}

type fakeService struct {
	ID, Service string
	Tags        []string
	Port        int
}

// fakeConsul fakes Consul's catalog read endpoints, answering with the
// JSON Consul's agent sends:
//
//	GET /v1/catalog/datacenters
//	GET /v1/catalog/nodes         ?node-meta=k:v ?near=NODE ?filter=Meta.k == "v"
//	GET /v1/catalog/service/:s    ?node-meta=k:v ?near=NODE ?filter=...
//	GET /v1/catalog/services      ?node-meta=k:v
//	GET /v1/catalog/node/:n
type fakeConsul struct {
	mu    sync.Mutex
	dcs   []string
	nodes []fakeNode
	// raw, when it has the request's path, is the body to answer with.
	raw map[string]string
	// path and last are the path and query string of the last request.
	path string
	last url.Values
	// fail, when set, makes every request answer 500 with this body.
	fail string
}

func newFakeConsul(t *testing.T) (*fakeConsul, *httptest.Server) {
	t.Helper()
	f := &fakeConsul{dcs: []string{"dc1", "dc2", "eu-west"}, nodes: seed(), raw: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func seed() []fakeNode {
	return []fakeNode{
		{
			ID: "1b662d97-8b5c-3cc2-0ac0-96f55ad423b5", Node: "worker-01", Address: "10.4.5.31", Datacenter: "dc1",
			TaggedAddresses: map[string]string{"wan": "198.51.100.31", "lan": "10.4.5.31"},
			Meta:            map[string]string{"rack": "r1", "env": "prod"},
			Services: []fakeService{
				{ID: "consul", Service: "consul", Port: 8300},
				{ID: "redis", Service: "redis", Tags: []string{"v1", "primary"}, Port: 6379},
			},
		},
		{
			ID: "d407a592-e93c-4d8e-8a6d-aba853d1e067", Node: "worker-02", Address: "10.4.4.158", Datacenter: "dc1",
			TaggedAddresses: map[string]string{
				"lan": "10.4.4.158", "lan_ipv4": "10.4.4.158", "wan": "10.4.4.158", "wan_ipv4": "10.4.4.158",
			},
			Meta: map[string]string{"env": "staging"},
			Services: []fakeService{
				{ID: "redis", Service: "redis", Tags: []string{"v1"}, Port: 6379},
				{ID: "web-1", Service: "web", Tags: []string{"http"}, Port: 8080},
				{ID: "web-2", Service: "web", Tags: []string{"http", "canary"}, Port: 8081},
			},
		},
		{
			ID: "5f2c0c8e-0b3a-4e8e-9d3c-1f2e3d4c5b6a", Node: "db-primary-eu", Address: "2001:db8::1", Datacenter: "dc1",
			Services: []fakeService{
				{ID: "postgres", Service: "postgres", Tags: []string{"primary"}, Port: 5432},
				{ID: "vault", Service: "vault", Port: 8200},
			},
		},
	}
}

func (f *fakeConsul) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.path, f.last = r.URL.Path, r.URL.Query()
	if f.fail != "" {
		http.Error(w, f.fail, http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Consul-Index", "42")
	w.Header().Set("X-Consul-KnownLeader", "true")
	if body, ok := f.raw[r.URL.Path]; ok {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
		return
	}
	q := r.URL.Query()
	var body any
	switch p := r.URL.Path; {
	case p == "/v1/catalog/datacenters":
		body = f.dcs
	case p == "/v1/catalog/nodes":
		nodes, err := f.match(q)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := []map[string]any{}
		for _, n := range nodes {
			out = append(out, nodeJSON(n))
		}
		body = out
	case strings.HasPrefix(p, "/v1/catalog/service/"):
		name := strings.TrimPrefix(p, "/v1/catalog/service/")
		nodes, err := f.match(q)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := []map[string]any{}
		for _, n := range nodes {
			for _, s := range n.Services {
				if s.Service == name {
					out = append(out, catalogServiceJSON(n, s))
				}
			}
		}
		body = out
	case p == "/v1/catalog/services":
		nodes, err := f.match(q)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := map[string][]string{}
		for _, n := range nodes {
			for _, s := range n.Services {
				tags := out[s.Service]
				if tags == nil {
					tags = []string{}
				}
				for _, t := range s.Tags {
					if !contains(tags, t) {
						tags = append(tags, t)
					}
				}
				out[s.Service] = tags
			}
		}
		body = out
	case strings.HasPrefix(p, "/v1/catalog/node/"):
		name := strings.TrimPrefix(p, "/v1/catalog/node/")
		body = nil // Consul answers 200 "null" for an unknown node.
		for _, n := range f.nodes {
			if n.Node == name || n.ID == name {
				services := map[string]any{}
				for _, s := range n.Services {
					services[s.ID] = agentServiceJSON(s)
				}
				body = map[string]any{"Node": nodeJSON(n), "Services": services}
			}
		}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

var metaFilter = regexp.MustCompile(`^\s*Meta\.(\w+)\s*==\s*"([^"]*)"\s*$`)

// match returns the nodes the query selects, sorted by name as Consul
// sorts them, or with ?near by "distance": the named node first.
func (f *fakeConsul) match(q url.Values) ([]fakeNode, error) {
	want := map[string]string{}
	for _, kv := range q["node-meta"] {
		k, v, _ := strings.Cut(kv, ":")
		want[k] = v
	}
	if fl := q.Get("filter"); fl != "" {
		m := metaFilter.FindStringSubmatch(fl)
		if m == nil {
			return nil, &filterError{fl}
		}
		want[m[1]] = m[2]
	}
	var out []fakeNode
	for _, n := range f.nodes {
		ok := true
		for k, v := range want {
			if got, has := n.Meta[k]; !has || got != v {
				ok = false
			}
		}
		if ok {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	if near := q.Get("near"); near != "" {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Node == near && out[j].Node != near })
	}
	return out, nil
}

type filterError struct{ expr string }

func (e *filterError) Error() string {
	return "Failed to create boolean expression evaluator: 1:1 (0): no match found, expected: \"Meta\" (" + e.expr + ")"
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func tagsOrNull(tags []string) any {
	if len(tags) == 0 {
		return nil
	}
	return tags
}

// nodeJSON is a node as /v1/catalog/nodes renders it.
func nodeJSON(n fakeNode) map[string]any {
	return map[string]any{
		"ID":              n.ID,
		"Node":            n.Node,
		"Address":         n.Address,
		"Datacenter":      n.Datacenter,
		"TaggedAddresses": orEmpty(n.TaggedAddresses),
		"Meta":            orEmpty(n.Meta),
		"CreateIndex":     11,
		"ModifyIndex":     12,
	}
}

// catalogServiceJSON is an instance as /v1/catalog/service/:s renders it.
func catalogServiceJSON(n fakeNode, s fakeService) map[string]any {
	return map[string]any{
		"ID":                       n.ID,
		"Node":                     n.Node,
		"Address":                  n.Address,
		"Datacenter":               n.Datacenter,
		"TaggedAddresses":          orEmpty(n.TaggedAddresses),
		"NodeMeta":                 orEmpty(n.Meta),
		"ServiceKind":              "",
		"ServiceID":                s.ID,
		"ServiceName":              s.Service,
		"ServiceTags":              tagsOrNull(s.Tags),
		"ServiceAddress":           "",
		"ServiceWeights":           map[string]int{"Passing": 1, "Warning": 1},
		"ServiceMeta":              map[string]string{},
		"ServicePort":              s.Port,
		"ServiceSocketPath":        "",
		"ServiceEnableTagOverride": false,
		"ServiceProxy":             map[string]any{"Mode": "", "MeshGateway": map[string]any{}, "Expose": map[string]any{}},
		"ServiceConnect":           map[string]any{},
		"ServiceLocality":          nil,
		"CreateIndex":              13,
		"ModifyIndex":              13,
	}
}

// agentServiceJSON is a service as /v1/catalog/node/:n renders it.
func agentServiceJSON(s fakeService) map[string]any {
	return map[string]any{
		"ID":                s.ID,
		"Service":           s.Service,
		"Tags":              tagsOrNull(s.Tags),
		"Address":           "",
		"Meta":              map[string]string{},
		"Port":              s.Port,
		"Weights":           map[string]int{"Passing": 1, "Warning": 1},
		"EnableTagOverride": false,
		"Proxy":             map[string]any{"Mode": "", "MeshGateway": map[string]any{}, "Expose": map[string]any{}},
		"Connect":           map[string]any{},
		"PeerName":          "",
		"CreateIndex":       13,
		"ModifyIndex":       13,
	}
}

// cli is `tribune catalog`.
var cli = commandtest.Cmd{New: New, Family: true}

// checkRequest checks the last request's path and query parameters.
func checkRequest(t *testing.T, f *fakeConsul, wantPath string, wantQuery url.Values) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if wantPath != "" && f.path != wantPath {
		t.Errorf("request path = %q, want %q", f.path, wantPath)
	}
	for k, want := range wantQuery {
		got := f.last[k]
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || !f.last.Has(k) {
			t.Errorf("query %q = %q (present %v), want %q", k, got, f.last.Has(k), want)
		}
	}
}

const noNodes = "No nodes match the given query - try expanding your search.\n"
const noServices = "No services match the given query - try expanding your search.\n"

func TestDatacenters(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantOut   string
		wantErr   string
		wantQuery url.Values
	}{
		{name: "list", args: []string{"datacenters"}, wantOut: "dc1\ndc2\neu-west\n"},
		{name: "datacenter and stale", args: []string{"datacenters", "-datacenter=dc2", "-stale"},
			wantOut: "dc1\ndc2\neu-west\n", wantQuery: url.Values{"dc": {"dc2"}, "stale": {""}}},
		{name: "too many arguments", args: []string{"datacenters", "dc1"}, wantCode: 1,
			wantErr: "Too many arguments (expected 0, got 1)\n"},
		{name: "unknown flag", args: []string{"datacenters", "-tags"}, wantCode: 1,
			wantErr: "flag provided but not defined: -tags"},
		{name: "help", args: []string{"datacenters", "-h"}, wantErr: "Usage: tribune catalog datacenters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeConsul(t)
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.CheckContains(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			if tt.wantQuery != nil {
				checkRequest(t, f, "/v1/catalog/datacenters", tt.wantQuery)
			}
		})
	}
}

func TestNodes(t *testing.T) {
	dir := t.TempDir()
	filterFile := filepath.Join(dir, "filter.txt")
	if err := os.WriteFile(filterFile, []byte(`Meta.env == "staging"`), 0o600); err != nil {
		t.Fatal(err)
	}
	const all = "" +
		"Node           ID        Address      DC\n" +
		"db-primary-eu  5f2c0c8e  2001:db8::1  dc1\n" +
		"worker-01      1b662d97  10.4.5.31    dc1\n" +
		"worker-02      d407a592  10.4.4.158   dc1\n"
	const worker01 = "" +
		"Node       ID        Address    DC\n" +
		"worker-01  1b662d97  10.4.5.31  dc1\n"
	const worker02 = "" +
		"Node       ID        Address     DC\n" +
		"worker-02  d407a592  10.4.4.158  dc1\n"
	tests := []struct {
		name      string
		args      []string
		stdin     string
		wantCode  int
		wantOut   string
		wantErr   string
		wantPath  string
		wantQuery url.Values
	}{
		{name: "list", args: []string{"nodes"}, wantOut: all, wantPath: "/v1/catalog/nodes"},
		{name: "detailed", args: []string{"nodes", "-detailed"}, wantOut: "" +
			"Node           ID                                    Address      DC   TaggedAddresses                                                           Meta\n" +
			"db-primary-eu  5f2c0c8e-0b3a-4e8e-9d3c-1f2e3d4c5b6a  2001:db8::1  dc1                                                                            \n" +
			"worker-01      1b662d97-8b5c-3cc2-0ac0-96f55ad423b5  10.4.5.31    dc1  lan=10.4.5.31, wan=198.51.100.31                                          env=prod, rack=r1\n" +
			"worker-02      d407a592-e93c-4d8e-8a6d-aba853d1e067  10.4.4.158   dc1  lan=10.4.4.158, lan_ipv4=10.4.4.158, wan=10.4.4.158, wan_ipv4=10.4.4.158  env=staging\n"},
		{name: "service", args: []string{"nodes", "-service=redis"}, wantOut: "" +
			"Node       ID        Address     DC\n" +
			"worker-01  1b662d97  10.4.5.31   dc1\n" +
			"worker-02  d407a592  10.4.4.158  dc1\n",
			wantPath: "/v1/catalog/service/redis"},
		{name: "service detailed", args: []string{"nodes", "-service", "postgres", "-detailed"}, wantOut: "" +
			"Node           ID                                    Address      DC   TaggedAddresses  Meta\n" +
			"db-primary-eu  5f2c0c8e-0b3a-4e8e-9d3c-1f2e3d4c5b6a  2001:db8::1  dc1                   \n"},
		{name: "service instance per row", args: []string{"nodes", "-service=web"}, wantOut: "" +
			"Node       ID        Address     DC\n" +
			"worker-02  d407a592  10.4.4.158  dc1\n" +
			"worker-02  d407a592  10.4.4.158  dc1\n"},
		{name: "service missing", args: []string{"nodes", "-service=nope"}, wantErr: noNodes},
		{name: "node meta", args: []string{"nodes", "-node-meta=env=prod"}, wantOut: worker01,
			wantQuery: url.Values{"node-meta": {"env:prod"}}},
		{name: "node meta repeated", args: []string{"nodes", "-node-meta", "env=prod", "-node-meta", "rack=r1"},
			wantOut: worker01, wantQuery: url.Values{"node-meta": {"env:prod", "rack:r1"}}},
		{name: "node meta no match", args: []string{"nodes", "-node-meta=env=prod", "-node-meta=rack=r2"}, wantErr: noNodes},
		{name: "node meta value with equals", args: []string{"nodes", "-node-meta=env=a=b"}, wantErr: noNodes,
			wantQuery: url.Values{"node-meta": {"env:a=b"}}},
		{name: "service and node meta", args: []string{"nodes", "-service=redis", "-node-meta=env=staging"},
			wantOut: worker02, wantPath: "/v1/catalog/service/redis", wantQuery: url.Values{"node-meta": {"env:staging"}}},
		{name: "near", args: []string{"nodes", "-near=worker-02"}, wantOut: "" +
			"Node           ID        Address      DC\n" +
			"worker-02      d407a592  10.4.4.158   dc1\n" +
			"db-primary-eu  5f2c0c8e  2001:db8::1  dc1\n" +
			"worker-01      1b662d97  10.4.5.31    dc1\n",
			wantQuery: url.Values{"near": {"worker-02"}}},
		{name: "near agent", args: []string{"nodes", "-near=_agent"}, wantOut: all,
			wantQuery: url.Values{"near": {"_agent"}}},
		{name: "filter", args: []string{"nodes", `-filter=Meta.env == "prod"`}, wantOut: worker01,
			wantQuery: url.Values{"filter": {`Meta.env == "prod"`}}},
		{name: "filter from file", args: []string{"nodes", "-filter=@" + filterFile}, wantOut: worker02,
			wantQuery: url.Values{"filter": {`Meta.env == "staging"`}}},
		{name: "filter from stdin", args: []string{"nodes", "-filter", "-"}, stdin: `Meta.env == "prod"`,
			wantOut: worker01, wantQuery: url.Values{"filter": {`Meta.env == "prod"`}}},
		{name: "filter on service", args: []string{"nodes", "-service=redis", `-filter=Meta.env == "prod"`},
			wantOut: worker01, wantPath: "/v1/catalog/service/redis", wantQuery: url.Values{"filter": {`Meta.env == "prod"`}}},
		{name: "filter missing file", args: []string{"nodes", "-filter=@" + filepath.Join(dir, "nope")}, wantCode: 1,
			wantErr: "Could not process filter argument: Failed to read file: open "},
		{name: "bad filter", args: []string{"nodes", "-filter=Node ~~ x"}, wantCode: 1,
			wantErr: "Error listing nodes: Unexpected response code: 400 (Failed to create boolean expression evaluator"},
		{name: "datacenter and stale", args: []string{"nodes", "-datacenter=dc2", "-stale"}, wantOut: all,
			wantQuery: url.Values{"dc": {"dc2"}, "stale": {""}}},
		{name: "service datacenter", args: []string{"nodes", "-service=redis", "-datacenter=dc2", "-stale"},
			wantOut:   "Node       ID        Address     DC\nworker-01  1b662d97  10.4.5.31   dc1\nworker-02  d407a592  10.4.4.158  dc1\n",
			wantQuery: url.Values{"dc": {"dc2"}, "stale": {""}}},
		{name: "bad node meta", args: []string{"nodes", "-node-meta=env"}, wantCode: 1,
			wantErr: `invalid value "env" for flag -node-meta: Missing "=" value in argument: env`},
		{name: "bad bool", args: []string{"nodes", "-detailed=sure"}, wantCode: 1,
			wantErr: `invalid boolean value "sure" for -detailed`},
		{name: "unknown flag", args: []string{"nodes", "-tags"}, wantCode: 1,
			wantErr: "flag provided but not defined: -tags"},
		{name: "missing flag value", args: []string{"nodes", "-service"}, wantCode: 1,
			wantErr: "flag needs an argument: -service"},
		{name: "too many arguments", args: []string{"nodes", "web", "-detailed"}, wantCode: 1,
			wantErr: "Too many arguments (expected 0, got 2)\n"},
		{name: "help", args: []string{"nodes", "-h"}, wantErr: "Usage: tribune catalog nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeConsul(t)
			code, out, errOut := cli.RunStdin(t, srv.URL, tt.stdin, tt.args...)
			commandtest.CheckContains(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			if tt.wantPath != "" || tt.wantQuery != nil {
				checkRequest(t, f, tt.wantPath, tt.wantQuery)
			}
		})
	}
}

func TestServices(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantOut   string
		wantErr   string
		wantPath  string
		wantQuery url.Values
	}{
		{name: "list", args: []string{"services"}, wantOut: "consul\npostgres\nredis\nvault\nweb\n",
			wantPath: "/v1/catalog/services"},
		// Tags sorted and comma-joined; the untagged line keeps its padding
		// unless it is the last (Consul trims the whole table).
		{name: "tags", args: []string{"services", "-tags"}, wantOut: "" +
			"consul        \n" +
			"postgres      primary\n" +
			"redis         primary,v1\n" +
			"vault         \n" +
			"web           canary,http\n"},
		{name: "node", args: []string{"services", "-node=worker-02"}, wantOut: "redis\nweb\n",
			wantPath: "/v1/catalog/node/worker-02"},
		{name: "node by id", args: []string{"services", "-node=5f2c0c8e-0b3a-4e8e-9d3c-1f2e3d4c5b6a"},
			wantOut: "postgres\nvault\n"},
		// A service's instances' tags are concatenated, as Consul does.
		{name: "node tags", args: []string{"services", "-node=worker-02", "-tags"}, wantOut: "" +
			"redis      v1\n" +
			"web        canary,http,http\n"},
		{name: "node tags last untagged", args: []string{"services", "-node=db-primary-eu", "-tags"}, wantOut: "" +
			"postgres      primary\n" +
			"vault\n"},
		{name: "node missing", args: []string{"services", "-node=nope"}, wantErr: noServices,
			wantPath: "/v1/catalog/node/nope"},
		{name: "node meta", args: []string{"services", "-node-meta=env=staging"}, wantOut: "redis\nweb\n",
			wantQuery: url.Values{"node-meta": {"env:staging"}}},
		{name: "node meta tags", args: []string{"services", "-node-meta=env=staging", "-tags"},
			wantOut: "redis      v1\nweb        canary,http\n"},
		{name: "node meta no match", args: []string{"services", "-node-meta=env=dev"}, wantErr: noServices},
		{name: "node with node meta", args: []string{"services", "-node=worker-01", "-node-meta=env=prod"},
			wantOut: "consul\nredis\n", wantPath: "/v1/catalog/node/worker-01", wantQuery: url.Values{"node-meta": {"env:prod"}}},
		{name: "datacenter and stale", args: []string{"services", "-datacenter=dc2", "-stale"},
			wantOut: "consul\npostgres\nredis\nvault\nweb\n", wantQuery: url.Values{"dc": {"dc2"}, "stale": {""}}},
		{name: "bad node meta", args: []string{"services", "-node-meta", "x"}, wantCode: 1,
			wantErr: `invalid value "x" for flag -node-meta: Missing "=" value in argument: x`},
		{name: "bad bool", args: []string{"services", "-tags=often"}, wantCode: 1,
			wantErr: `invalid boolean value "often" for -tags`},
		{name: "unknown flag", args: []string{"services", "-detailed"}, wantCode: 1,
			wantErr: "flag provided but not defined: -detailed"},
		{name: "too many arguments", args: []string{"services", "web"}, wantCode: 1,
			wantErr: "Too many arguments (expected 0, got 1)\n"},
		{name: "help", args: []string{"services", "-help"}, wantErr: "Usage: tribune catalog services"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeConsul(t)
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.CheckContains(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			if tt.wantPath != "" || tt.wantQuery != nil {
				checkRequest(t, f, tt.wantPath, tt.wantQuery)
			}
		})
	}
}

// TestConsulJSON feeds the commands responses as a Consul 1.x agent sends
// them, fields this CLI does not read included.
func TestConsulJSON(t *testing.T) {
	f, srv := newFakeConsul(t)
	f.raw["/v1/catalog/nodes"] = `[
  {
    "ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
    "Node": "baz",
    "Address": "10.1.10.11",
    "Datacenter": "dc1",
    "TaggedAddresses": {"lan": "10.1.10.11", "lan_ipv4": "10.1.10.11", "wan": "10.1.10.11", "wan_ipv4": "10.1.10.11"},
    "Meta": {"instance_type": "t2.medium", "consul-network-segment": ""},
    "Partition": "default",
    "PeerName": "",
    "Locality": null,
    "CreateIndex": 7,
    "ModifyIndex": 9
  }
]`
	f.raw["/v1/catalog/services"] = `{"consul": [], "redis": [], "postgresql": ["primary", "secondary"]}`
	f.raw["/v1/catalog/node/baz"] = `{
  "Node": {"ID": "40e4a748-2192-161a-0510-9bf59fe950b5", "Node": "baz", "Address": "10.1.10.11",
    "Datacenter": "dc1", "TaggedAddresses": {"lan": "10.1.10.11"}, "Meta": {}},
  "Services": {
    "consul": {"ID": "consul", "Service": "consul", "Tags": null, "Meta": {}, "Port": 8300},
    "redis": {"ID": "redis", "Service": "redis", "TaggedAddresses": {"lan": {"address": "10.1.10.12", "port": 8000}},
      "Tags": ["v1"], "Meta": {"redis_version": "4.0"}, "Port": 8000, "Namespace": "default"}
  }
}`
	tests := []struct {
		name    string
		args    []string
		wantOut string
	}{
		{name: "nodes", args: []string{"nodes"}, wantOut: "" +
			"Node  ID        Address     DC\n" +
			"baz   40e4a748  10.1.10.11  dc1\n"},
		{name: "nodes detailed", args: []string{"nodes", "-detailed"}, wantOut: "" +
			"Node  ID                                    Address     DC   TaggedAddresses                                                           Meta\n" +
			"baz   40e4a748-2192-161a-0510-9bf59fe950b5  10.1.10.11  dc1  lan=10.1.10.11, lan_ipv4=10.1.10.11, wan=10.1.10.11, wan_ipv4=10.1.10.11  consul-network-segment=, instance_type=t2.medium\n"},
		{name: "services tags", args: []string{"services", "-tags"}, wantOut: "" +
			"consul          \n" +
			"postgresql      primary,secondary\n" +
			"redis\n"},
		{name: "node services tags", args: []string{"services", "-node=baz", "-tags"}, wantOut: "" +
			"consul      \n" +
			"redis       v1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.CheckContains(t, code, out, errOut, 0, tt.wantOut, "")
		})
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "no subcommand", args: nil, wantCode: 1, wantErr: "Usage: tribune catalog <subcommand>"},
		{name: "help", args: []string{"-h"}, wantErr: "Subcommands:\n" +
			"    datacenters  Lists all known datacenters\n" +
			"    nodes        Lists all nodes in the given datacenter\n" +
			"    services     Lists all registered services in a datacenter\n"},
		{name: "unknown subcommand", args: []string{"list"}, wantCode: 1, wantErr: `Unknown subcommand: "list"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli.Run(t, "", tt.args...)
			commandtest.CheckContains(t, code, out, errOut, tt.wantCode, "", tt.wantErr)
		})
	}
}

func TestHTTPClient(t *testing.T) {
	commandtest.CheckHTTPClient(t, commandtest.HTTPClient{
		Cmd:  cli,
		Args: []string{"datacenters"},
		Agent: func(t *testing.T) (string, func(*testing.T)) {
			_, srv := newFakeConsul(t)
			return srv.URL, nil
		},
		Out: "dc1\ndc2\neu-west\n",
		Help: map[string][]string{
			"datacenters": nil,
			"nodes":       {"-detailed", "-filter string", "-near string", "-node-meta key=value", "-service id or name"},
			"services":    {"-node id or name", "-node-meta key=value", "-tags"},
		},
		Down: []commandtest.Down{
			{Args: []string{"datacenters"}, Err: func(addr string) string {
				return `Error listing datacenters: Get "` + addr + `/v1/catalog/datacenters": `
			}},
			{Args: []string{"nodes"}, Err: func(addr string) string {
				return `Error listing nodes: Get "` + addr + `/v1/catalog/nodes": `
			}},
			{Args: []string{"services"}, Err: func(addr string) string {
				return `Error listing services: Get "` + addr + `/v1/catalog/services": `
			}},
		},
	})
}

func TestAgentErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "datacenters", args: []string{"datacenters"},
			wantErr: "Error listing datacenters: Unexpected response code: 500 (boom)"},
		{name: "nodes", args: []string{"nodes"},
			wantErr: "Error listing nodes: Unexpected response code: 500 (boom)"},
		{name: "nodes for service", args: []string{"nodes", "-service=web"},
			wantErr: "Error listing nodes for service: Unexpected response code: 500 (boom)"},
		{name: "services", args: []string{"services"},
			wantErr: "Error listing services: Unexpected response code: 500 (boom)"},
		{name: "services for node", args: []string{"services", "-node=worker-01"},
			wantErr: "Error listing services for node: Unexpected response code: 500 (boom)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeConsul(t)
			f.fail = "boom"
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.CheckContains(t, code, out, errOut, 1, "", tt.wantErr)
		})
	}
}

func TestShortID(t *testing.T) {
	for id, want := range map[string]string{
		"1b662d97-8b5c-3cc2-0ac0-96f55ad423b5": "1b662d97",
		"":                                     "",
		"node1":                                "node1",
		"-leading":                             "-leading",
		"ab-cd":                                "ab",
	} {
		if got := shortID(id); got != want {
			t.Errorf("shortID(%q) = %q, want %q", id, got, want)
		}
	}
}
