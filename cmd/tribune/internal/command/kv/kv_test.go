package kv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command/commandtest"
)

// fakeConsul fakes just enough of Consul's /v1/kv endpoint for the CLI:
// reads of a key, a prefix (?recurse) or key names (?keys&separator=),
// writes with ?flags and ?cas, and deletes with ?recurse and ?cas.
type fakeConsul struct {
	mu    sync.Mutex
	index uint64
	pairs map[string]*api.KVPair
	// last is the query string of the last request.
	last url.Values
	// fail, when set, makes every request answer 500 with this body.
	fail string
}

func newFakeConsul(t *testing.T, seed ...*api.KVPair) (*fakeConsul, *httptest.Server) {
	t.Helper()
	f := &fakeConsul{pairs: map[string]*api.KVPair{}}
	for _, p := range seed {
		f.index++
		cp := *p
		if cp.CreateIndex == 0 {
			cp.CreateIndex = f.index
		}
		if cp.ModifyIndex == 0 {
			cp.ModifyIndex = f.index
		}
		f.index = max(f.index, cp.ModifyIndex)
		f.pairs[cp.Key] = &cp
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeConsul) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = r.URL.Query()
	if f.fail != "" {
		http.Error(w, f.fail, http.StatusInternalServerError)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/v1/kv/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	w.Header().Set("X-Consul-Index", strconv.FormatUint(f.index, 10))
	switch r.Method {
	case http.MethodGet:
		f.get(w, key, q)
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		f.put(w, key, body, q)
	case http.MethodDelete:
		f.delete(w, key, q)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (f *fakeConsul) sorted(prefix string) []*api.KVPair {
	var out []*api.KVPair
	for k, p := range f.pairs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (f *fakeConsul) get(w http.ResponseWriter, key string, q url.Values) {
	var body any
	switch {
	case q.Has("keys"):
		sep := q.Get("separator")
		var keys []string
		seen := map[string]bool{}
		for _, p := range f.sorted(key) {
			k := p.Key
			if sep != "" {
				if i := strings.Index(k[len(key):], sep); i >= 0 {
					k = k[:len(key)+i+len(sep)]
				}
			}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		body = keys
	case q.Has("recurse"):
		pairs := f.sorted(key)
		if len(pairs) == 0 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		body = pairs
	default:
		p, ok := f.pairs[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		body = []*api.KVPair{p}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeConsul) put(w http.ResponseWriter, key string, value []byte, q url.Values) {
	cur, exists := f.pairs[key]
	if q.Has("cas") {
		cas, err := strconv.ParseUint(q.Get("cas"), 10, 64)
		if err != nil {
			http.Error(w, "bad cas", http.StatusBadRequest)
			return
		}
		if (cas == 0 && exists) || (cas != 0 && (!exists || cur.ModifyIndex != cas)) {
			_, _ = io.WriteString(w, "false")
			return
		}
	}
	var flags uint64
	if q.Has("flags") {
		flags, _ = strconv.ParseUint(q.Get("flags"), 10, 64)
	}
	f.index++
	p := &api.KVPair{Key: key, Value: value, Flags: flags, CreateIndex: f.index, ModifyIndex: f.index}
	if exists {
		p.CreateIndex = cur.CreateIndex
	}
	f.pairs[key] = p
	_, _ = io.WriteString(w, "true")
}

func (f *fakeConsul) delete(w http.ResponseWriter, key string, q url.Values) {
	switch {
	case q.Has("recurse"):
		for _, p := range f.sorted(key) {
			delete(f.pairs, p.Key)
		}
	case q.Has("cas"):
		cas, _ := strconv.ParseUint(q.Get("cas"), 10, 64)
		cur, ok := f.pairs[key]
		if !ok || cur.ModifyIndex != cas {
			_, _ = io.WriteString(w, "false")
			return
		}
		delete(f.pairs, key)
	default:
		delete(f.pairs, key)
	}
	f.index++
	_, _ = io.WriteString(w, "true")
}

// cli is `tribune kv`.
var cli = commandtest.Cmd{New: New, Family: true}

func seed() []*api.KVPair {
	return []*api.KVPair{
		{Key: "foo", Value: []byte("bar"), Flags: 42, CreateIndex: 5, ModifyIndex: 7},
		{Key: "app/db/host", Value: []byte("10.0.0.1"), CreateIndex: 8, ModifyIndex: 8},
		{Key: "app/db/port", Value: []byte("5432"), CreateIndex: 9, ModifyIndex: 9},
		{Key: "app/name", Value: []byte("web"), CreateIndex: 10, ModifyIndex: 10, Session: "4ca8e74b-6350-7587-addf-a18084928f3c", LockIndex: 1},
		{Key: "bin", Value: []byte{0xff, 0x00, 'x'}, CreateIndex: 11, ModifyIndex: 11},
	}
}

const detailedFoo = "CreateIndex      5\n" +
	"Flags            42\n" +
	"Key              foo\n" +
	"LockIndex        0\n" +
	"ModifyIndex      7\n" +
	"Session          -\n" +
	"Value            bar\n"

func TestGet(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantOut   string
		wantErr   string // a substring of stderr; "" means stderr is empty
		wantQuery map[string]string
	}{
		{name: "value", args: []string{"get", "foo"}, wantOut: "bar\n"},
		{name: "leading slash stripped", args: []string{"get", "/foo"}, wantOut: "bar\n"},
		{name: "base64", args: []string{"get", "-base64", "bin"}, wantOut: "/wB4\n"},
		{name: "detailed", args: []string{"get", "-detailed", "foo"}, wantOut: detailedFoo},
		{name: "detailed base64", args: []string{"get", "-detailed", "-base64", "foo"},
			wantOut: strings.Replace(detailedFoo, "Value            bar", "Value            YmFy", 1)},
		{name: "detailed with session", args: []string{"get", "-detailed", "app/name"}, wantOut: "" +
			"CreateIndex      10\n" +
			"Flags            0\n" +
			"Key              app/name\n" +
			"LockIndex        1\n" +
			"ModifyIndex      10\n" +
			"Session          4ca8e74b-6350-7587-addf-a18084928f3c\n" +
			"Value            web\n"},
		{name: "missing key", args: []string{"get", "nope"}, wantCode: 1, wantErr: "Error! No key exists at: nope\n"},
		{name: "missing key argument", args: []string{"get"}, wantCode: 1, wantErr: "Error! Missing KEY argument\n"},
		{name: "too many arguments", args: []string{"get", "a", "b"}, wantCode: 1, wantErr: "Too many arguments (expected 1, got 2)\n"},
		{name: "recurse", args: []string{"get", "-recurse", "app/"},
			wantOut:   "app/db/host:10.0.0.1\napp/db/port:5432\napp/name:web\n",
			wantQuery: map[string]string{"recurse": ""}},
		{name: "recurse everything", args: []string{"get", "-recurse"},
			wantOut: "app/db/host:10.0.0.1\napp/db/port:5432\napp/name:web\nbin:\xff\x00x\nfoo:bar\n"},
		{name: "recurse base64", args: []string{"get", "-recurse", "-base64", "app/db"},
			wantOut: "app/db/host:MTAuMC4wLjE=\napp/db/port:NTQzMg==\n"},
		{name: "recurse detailed", args: []string{"get", "-recurse", "-detailed", "app/db/"}, wantOut: "" +
			"CreateIndex      8\nFlags            0\nKey              app/db/host\nLockIndex        0\n" +
			"ModifyIndex      8\nSession          -\nValue            10.0.0.1\n" +
			"\n" +
			"CreateIndex      9\nFlags            0\nKey              app/db/port\nLockIndex        0\n" +
			"ModifyIndex      9\nSession          -\nValue            5432\n"},
		{name: "recurse no match", args: []string{"get", "-recurse", "zzz"}},
		{name: "keys default separator", args: []string{"get", "-keys", "app/"},
			wantOut:   "app/db/\napp/name\n",
			wantQuery: map[string]string{"keys": "", "separator": "/"}},
		{name: "keys root", args: []string{"get", "-keys"}, wantOut: "app/\nbin\nfoo\n"},
		{name: "keys no separator", args: []string{"get", "-keys", "-separator=", "app/"},
			wantOut: "app/db/host\napp/db/port\napp/name\n"},
		{name: "datacenter and stale", args: []string{"get", "-datacenter=dc2", "-stale", "foo"},
			wantOut: "bar\n", wantQuery: map[string]string{"dc": "dc2", "stale": ""}},
		{name: "unknown flag", args: []string{"get", "-bogus", "foo"}, wantCode: 1,
			wantErr: "flag provided but not defined: -bogus"},
		{name: "bad flag value", args: []string{"get", "-stale=maybe", "foo"}, wantCode: 1,
			wantErr: `invalid boolean value "maybe" for -stale`},
		{name: "help", args: []string{"get", "-h"}, wantErr: "Usage: tribune kv get"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeConsul(t, seed()...)
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.CheckContains(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			for k, v := range tt.wantQuery {
				if !f.last.Has(k) || f.last.Get(k) != v {
					t.Errorf("query %q = %q (present %v), want %q", k, f.last.Get(k), f.last.Has(k), v)
				}
			}
		})
	}
}

func TestPut(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "license.lic")
	if err := os.WriteFile(file, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		stdin     string
		wantCode  int
		wantOut   string
		wantErr   string
		key       string // the key to check afterwards
		wantValue *string
		wantFlags uint64
	}{
		{name: "value", args: []string{"put", "new", "hello"}, wantOut: "Success! Data written to: new\n",
			key: "new", wantValue: ptr("hello")},
		{name: "overwrite", args: []string{"put", "foo", "baz"}, wantOut: "Success! Data written to: foo\n",
			key: "foo", wantValue: ptr("baz")},
		{name: "no data", args: []string{"put", "empty"}, wantOut: "Success! Data written to: empty\n",
			key: "empty", wantValue: ptr("")},
		{name: "empty data", args: []string{"put", "empty", ""}, wantOut: "Success! Data written to: empty\n",
			key: "empty", wantValue: ptr("")},
		{name: "stdin", args: []string{"put", "in", "-"}, stdin: "from stdin\n",
			wantOut: "Success! Data written to: in\n", key: "in", wantValue: ptr("from stdin\n")},
		{name: "dash prefixed literal", args: []string{"put", "neg", "-5"},
			wantOut: "Success! Data written to: neg\n", key: "neg", wantValue: ptr("-5")},
		{name: "file", args: []string{"put", "lic", "@" + file},
			wantOut: "Success! Data written to: lic\n", key: "lic", wantValue: ptr("from a file\n")},
		{name: "missing file", args: []string{"put", "lic", "@" + filepath.Join(dir, "nope")}, wantCode: 1,
			wantErr: "Error! Failed to read file: open "},
		{name: "base64", args: []string{"put", "-base64", "b", "aGVsbG8="},
			wantOut: "Success! Data written to: b\n", key: "b", wantValue: ptr("hello")},
		{name: "bad base64", args: []string{"put", "-base64", "b", "!!"}, wantCode: 1,
			wantErr: "Error! Cannot base 64 decode data: illegal base64 data at input byte 0\n"},
		{name: "flags", args: []string{"put", "-flags=12", "f", "x"},
			wantOut: "Success! Data written to: f\n", key: "f", wantValue: ptr("x"), wantFlags: 12},
		{name: "bad flags value", args: []string{"put", "-flags=abc", "f", "x"}, wantCode: 1,
			wantErr: `invalid value "abc" for flag -flags`},
		{name: "negative modify index", args: []string{"put", "-cas", "-modify-index=-1", "f", "x"}, wantCode: 1,
			wantErr: `invalid value "-1" for flag -modify-index`},
		{name: "cas ok", args: []string{"put", "-cas", "-modify-index=7", "foo", "new"},
			wantOut: "Success! Data written to: foo\n", key: "foo", wantValue: ptr("new")},
		{name: "cas failed", args: []string{"put", "-cas", "-modify-index=6", "foo", "new"}, wantCode: 1,
			wantErr: "Error! Did not write to foo: CAS failed\n", key: "foo", wantValue: ptr("bar"), wantFlags: 42},
		{name: "cas create", args: []string{"put", "-cas", "-modify-index=0", "fresh", "v"},
			wantOut: "Success! Data written to: fresh\n", key: "fresh", wantValue: ptr("v")},
		{name: "cas create exists", args: []string{"put", "-cas", "foo", "new"}, wantCode: 1,
			wantErr: "Error! Did not write to foo: CAS performed with index=0 and key already exists.\n",
			key:     "foo", wantValue: ptr("bar"), wantFlags: 42},
		{name: "missing key", args: []string{"put"}, wantCode: 1, wantErr: "Error! Missing KEY argument\n"},
		{name: "too many arguments", args: []string{"put", "a", "b", "c"}, wantCode: 1,
			wantErr: "Error! Too many arguments (expected 1 or 2, got 3)\n"},
		{name: "leading slash", args: []string{"put", "/abs", "x"}, wantCode: 1,
			wantErr: "Error! Failed writing data: Invalid key. Key must not begin with a '/': /abs\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeConsul(t, seed()...)
			code, out, errOut := cli.RunStdin(t, srv.URL, tt.stdin, tt.args...)
			commandtest.CheckContains(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			if tt.key == "" {
				return
			}
			p := f.pairs[tt.key]
			switch {
			case tt.wantValue == nil && p != nil:
				t.Errorf("key %q exists, want it missing", tt.key)
			case tt.wantValue != nil && p == nil:
				t.Errorf("key %q missing", tt.key)
			case p != nil:
				if string(p.Value) != *tt.wantValue || p.Flags != tt.wantFlags {
					t.Errorf("key %q = %q flags %d, want %q flags %d", tt.key, p.Value, p.Flags, *tt.wantValue, tt.wantFlags)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestDelete(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
		wantKeys []string // the keys left
	}{
		{name: "key", args: []string{"delete", "foo"}, wantOut: "Success! Deleted key: foo\n",
			wantKeys: []string{"app/db/host", "app/db/port", "app/name", "bin"}},
		{name: "missing key is fine", args: []string{"delete", "nope"}, wantOut: "Success! Deleted key: nope\n",
			wantKeys: []string{"app/db/host", "app/db/port", "app/name", "bin", "foo"}},
		{name: "recurse", args: []string{"delete", "-recurse", "app/db"}, wantOut: "Success! Deleted keys with prefix: app/db\n",
			wantKeys: []string{"app/name", "bin", "foo"}},
		{name: "recurse everything", args: []string{"delete", "-recurse"}, wantOut: "Success! Deleted keys with prefix: \n"},
		{name: "cas", args: []string{"delete", "-cas", "-modify-index=7", "foo"}, wantOut: "Success! Deleted key: foo\n",
			wantKeys: []string{"app/db/host", "app/db/port", "app/name", "bin"}},
		{name: "cas failed", args: []string{"delete", "-cas", "-modify-index=3", "foo"}, wantCode: 1,
			wantErr:  "Error! Did not delete key foo: CAS failed\n",
			wantKeys: []string{"app/db/host", "app/db/port", "app/name", "bin", "foo"}},
		{name: "cas without index", args: []string{"delete", "-cas", "foo"}, wantCode: 1,
			wantErr: "Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.\n"},
		{name: "index without cas", args: []string{"delete", "-modify-index=7", "foo"}, wantCode: 1,
			wantErr: "Cannot specify -modify-index without -cas!\n"},
		{name: "cas and recurse", args: []string{"delete", "-cas", "-modify-index=7", "-recurse", "foo"}, wantCode: 1,
			wantErr: "Cannot specify both -cas and -recurse!\n"},
		{name: "missing key argument", args: []string{"delete"}, wantCode: 1, wantErr: "Error! Missing KEY argument\n"},
		{name: "too many arguments", args: []string{"delete", "a", "b"}, wantCode: 1,
			wantErr: "Too many arguments (expected 1, got 2)\n"},
		{name: "bad modify index", args: []string{"delete", "-cas", "-modify-index=x", "foo"}, wantCode: 1,
			wantErr: `invalid value "x" for flag -modify-index`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeConsul(t, seed()...)
			code, out, errOut := cli.Run(t, srv.URL, tt.args...)
			commandtest.CheckContains(t, code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			if tt.wantCode != 0 && tt.wantKeys == nil {
				return
			}
			var keys []string
			for _, p := range f.sorted("") {
				keys = append(keys, p.Key)
			}
			if strings.Join(keys, ",") != strings.Join(tt.wantKeys, ",") {
				t.Errorf("keys left = %q, want %q", keys, tt.wantKeys)
			}
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
		{name: "no subcommand", args: nil, wantCode: 1, wantErr: "Usage: tribune kv <subcommand>"},
		{name: "help", args: []string{"-h"}, wantErr: "Subcommands:"},
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
		Args: []string{"get", "foo"},
		Agent: func(t *testing.T) (string, func(*testing.T)) {
			_, srv := newFakeConsul(t, seed()...)
			return srv.URL, nil
		},
		Out: "bar\n",
		Help: map[string][]string{
			"get":    {"-base64", "-detailed", "-keys", "-recurse", "-separator string"},
			"put":    {"-base64", "-cas", "-flags uint", "-modify-index uint"},
			"delete": {"-cas", "-modify-index uint", "-recurse"},
		},
		Down: []commandtest.Down{
			{Args: []string{"get", "foo"}, Err: func(addr string) string {
				return `Error querying Consul agent: Get "` + addr + `/v1/kv/foo": `
			}},
			{Args: []string{"put", "foo", "x"}, Err: func(addr string) string {
				return `Error! Failed writing data: Put "` + addr + `/v1/kv/foo": `
			}},
			{Args: []string{"delete", "foo"}, Err: func(addr string) string {
				return `Error deleting key foo: Delete "` + addr + `/v1/kv/foo": `
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
		{name: "get", args: []string{"get", "foo"}, wantErr: "Error querying Consul agent: Unexpected response code: 500 (boom)"},
		{name: "get keys", args: []string{"get", "-keys"}, wantErr: "Error querying Consul agent: Unexpected response code: 500 (boom)"},
		{name: "put", args: []string{"put", "foo", "x"}, wantErr: "Error! Failed writing data: Unexpected response code: 500 (boom)"},
		{name: "put cas", args: []string{"put", "-cas", "-modify-index=1", "foo", "x"},
			wantErr: "Error! Did not write to foo: Unexpected response code: 500 (boom)"},
		{name: "delete", args: []string{"delete", "foo"}, wantErr: "Error deleting key foo: Unexpected response code: 500 (boom)"},
		{name: "delete recurse", args: []string{"delete", "-recurse", "foo"},
			wantErr: "Error! Did not delete prefix foo: Unexpected response code: 500 (boom)"},
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
