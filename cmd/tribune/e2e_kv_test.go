package main_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/agenttest"
)

func consulClient(t *testing.T, a *agenttest.Agent) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = a.HTTP
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestKVWithConsulClient drives a real `tribune agent -dev` with Consul's
// official Go client.
func TestKVWithConsulClient(t *testing.T) {
	a := agenttest.Start(t, "")
	kv := consulClient(t, a).KV()

	if _, err := kv.Put(&api.KVPair{Key: "app/config/db", Value: []byte("postgres"), Flags: 42}, nil); err != nil {
		t.Fatal(err)
	}
	p, meta, err := kv.Get("app/config/db", nil)
	if err != nil || p == nil {
		t.Fatalf("get: %v %v", p, err)
	}
	if string(p.Value) != "postgres" || p.Flags != 42 || p.CreateIndex == 0 || p.ModifyIndex != p.CreateIndex {
		t.Fatalf("get: %+v", p)
	}
	if meta.LastIndex != p.ModifyIndex || !meta.KnownLeader {
		t.Fatalf("meta: %+v, want LastIndex %d and a known leader", meta, p.ModifyIndex)
	}

	missing, meta, err := kv.Get("nope", nil)
	if err != nil || missing != nil || meta.LastIndex == 0 {
		t.Fatalf("missing key: %v %v %+v", missing, err, meta)
	}

	for _, k := range []string{"app/config/cache", "app/web/port", "other"} {
		if _, err := kv.Put(&api.KVPair{Key: k, Value: []byte(k)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	list, _, err := kv.List("app/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := pairKeys(list); got != "app/config/cache,app/config/db,app/web/port" {
		t.Fatalf("list app/: %s", got)
	}
	keys, _, err := kv.Keys("app/", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != "app/config/,app/web/" {
		t.Fatalf("keys app/ with separator: %s", got)
	}

	// Check-and-set: create-only, a stale index, the current index.
	ok, _, err := kv.CAS(&api.KVPair{Key: "app/config/db", Value: []byte("x"), ModifyIndex: 0}, nil)
	if err != nil || ok {
		t.Fatalf("create-only CAS on an existing key: ok=%v err=%v", ok, err)
	}
	ok, _, err = kv.CAS(&api.KVPair{Key: "app/config/db", Value: []byte("x"), ModifyIndex: p.ModifyIndex - 1}, nil)
	if err != nil || ok {
		t.Fatalf("CAS with a stale index: ok=%v err=%v", ok, err)
	}
	ok, _, err = kv.CAS(&api.KVPair{Key: "app/config/db", Value: []byte("mysql"), ModifyIndex: p.ModifyIndex}, nil)
	if err != nil || !ok {
		t.Fatalf("CAS with the current index: ok=%v err=%v", ok, err)
	}
	p2, _, _ := kv.Get("app/config/db", nil)
	if string(p2.Value) != "mysql" || p2.CreateIndex != p.CreateIndex || p2.ModifyIndex <= p.ModifyIndex {
		t.Fatalf("after CAS: %+v (before %+v)", p2, p)
	}
	ok, _, err = kv.DeleteCAS(&api.KVPair{Key: "app/config/db", ModifyIndex: p.ModifyIndex}, nil)
	if err != nil || ok {
		t.Fatalf("delete CAS with a stale index: ok=%v err=%v", ok, err)
	}

	// Raw.
	resp, err := http.Get(a.URL("/v1/kv/app/config/db?raw"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "mysql" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("raw: %q %v", body, resp.Header)
	}

	// Delete a tree: its keys go, the others stay, and the prefix's index
	// moves forward (tombstones).
	_, before, _ := kv.List("app/", nil)
	if _, err := kv.DeleteTree("app/", nil); err != nil {
		t.Fatal(err)
	}
	list, after, err := kv.List("app/", nil)
	if err != nil || len(list) != 0 {
		t.Fatalf("after delete-tree: %v %v", pairKeys(list), err)
	}
	if after.LastIndex <= before.LastIndex {
		t.Fatalf("prefix index went from %d to %d after a delete", before.LastIndex, after.LastIndex)
	}
	if o, _, _ := kv.Get("other", nil); o == nil {
		t.Fatal("delete-tree of app/ removed other")
	}
}

func pairKeys(ps api.KVPairs) string {
	var ks []string
	for _, p := range ps {
		ks = append(ks, p.Key)
	}
	return strings.Join(ks, ",")
}

// TestKVBlockingQueries checks that a blocking read is woken by a write to
// what it reads, and that one that sees no change returns after its wait.
func TestKVBlockingQueries(t *testing.T) {
	a := agenttest.Start(t, "")
	kv := consulClient(t, a).KV()
	if _, err := kv.Put(&api.KVPair{Key: "watched", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	_, meta, err := kv.Get("watched", nil)
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		p    *api.KVPair
		meta *api.QueryMeta
		err  error
	}
	woken := make(chan result, 1)
	go func() {
		p, m, err := kv.Get("watched", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
		woken <- result{p, m, err}
	}()
	// A write elsewhere must not answer the query; a write to the key must.
	if _, err := kv.Put(&api.KVPair{Key: "unrelated", Value: []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-woken:
		t.Fatalf("blocking query answered by an unrelated write: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := kv.Put(&api.KVPair{Key: "watched", Value: []byte("2")}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-woken:
		if r.err != nil || string(r.p.Value) != "2" || r.meta.LastIndex <= meta.LastIndex {
			t.Fatalf("woken query: %+v %+v %v", r.p, r.meta, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("blocking query not woken by a write to its key")
	}

	// No change: the query returns after its wait with the same index.
	_, meta, _ = kv.Get("watched", nil)
	start := time.Now()
	_, m, err := kv.Get("watched", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 500*time.Millisecond || m.LastIndex != meta.LastIndex {
		t.Fatalf("timed-out query: returned after %v with index %d, want >= 500ms and %d", el, m.LastIndex, meta.LastIndex)
	}

	// A delete under a watched prefix wakes a recursive query.
	_, lm, _ := kv.List("", nil)
	deleted := make(chan result, 1)
	go func() {
		_, m, err := kv.List("", &api.QueryOptions{WaitIndex: lm.LastIndex, WaitTime: 30 * time.Second})
		deleted <- result{meta: m, err: err}
	}()
	if _, err := kv.Delete("unrelated", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-deleted:
		if r.err != nil || r.meta.LastIndex <= lm.LastIndex {
			t.Fatalf("query woken by a delete: %+v %v", r.meta, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("recursive blocking query not woken by a delete")
	}
}

// TestKVHTTPContract checks status codes, headers and bodies over plain
// HTTP, and that bad requests write nothing.
func TestKVHTTPContract(t *testing.T) {
	a := agenttest.Start(t, "", "-kv-max-value-size", "1024")
	do := func(method, path string, body []byte) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, a.URL(path), bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, body := do("PUT", "/v1/kv/k", []byte("v1")); resp.StatusCode != 200 || strings.TrimSpace(body) != "true" {
		t.Fatalf("put: %d %q", resp.StatusCode, body)
	}
	resp, body := do("GET", "/v1/kv/k", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"Value":"djE="`) || !strings.Contains(body, `"CreateIndex":`) {
		t.Fatalf("get: %d %s", resp.StatusCode, body)
	}
	for _, h := range []string{"X-Consul-Index", "X-Consul-Knownleader", "X-Consul-Lastcontact", "X-Consul-Effective-Consistency"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("get: no %s header", h)
		}
	}
	if c := resp.Header.Get("X-Consul-Effective-Consistency"); c != "leader" {
		t.Errorf("effective consistency %q, want leader", c)
	}
	resp, body = do("GET", "/v1/kv/k?stale", nil)
	if resp.Header.Get("X-Consul-Effective-Consistency") != "stale" || resp.StatusCode != 200 {
		t.Errorf("stale get: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = do("GET", "/v1/kv/missing", nil)
	if idx, _ := strconv.Atoi(resp.Header.Get("X-Consul-Index")); resp.StatusCode != 404 || body != "" || idx < 1 {
		t.Fatalf("missing key: %d %q index %q", resp.StatusCode, body, resp.Header.Get("X-Consul-Index"))
	}
	resp, body = do("GET", "/v1/kv/?keys", nil)
	if resp.StatusCode != 200 || strings.TrimSpace(body) != `["k"]` {
		t.Fatalf("root keys: %d %s", resp.StatusCode, body)
	}

	bad := []struct {
		method, path string
		body         []byte
		code         int
		msg          string
	}{
		{"GET", "/v1/kv/k?index=abc", nil, 400, "Invalid index"},
		{"GET", "/v1/kv/k?wait=5x", nil, 400, "Invalid wait time"},
		{"GET", "/v1/kv/k?stale&consistent", nil, 400, "Cannot specify ?stale with ?consistent"},
		{"DELETE", "/v1/kv/k?recurse&cas=1", nil, 400, "Conflicting flags"},
		{"PUT", "/v1/kv/", []byte("x"), 400, "Missing key name"},
		{"PUT", "/v1/kv/k?flags=x", []byte("x"), 400, "Invalid flags"},
		{"PUT", "/v1/kv/k?cas=x", []byte("x"), 400, "Invalid cas index"},
		{"PUT", "/v1/kv/k", bytes.Repeat([]byte("x"), 1025), 413, "too large"},
		{"POST", "/v1/kv/k", []byte("x"), 405, "method POST not allowed"},
		{"GET", "/v1/kv/k?dc=elsewhere", nil, 500, "No path to datacenter"},
	}
	for _, b := range bad {
		resp, body := do(b.method, b.path, b.body)
		if resp.StatusCode != b.code || !strings.Contains(body, b.msg) || strings.Contains(body, "rpc error") {
			t.Errorf("%s %s: %d %q, want %d with %q", b.method, b.path, resp.StatusCode, body, b.code, b.msg)
		}
	}
	// A body of unknown length over the limit is refused too.
	req, _ := http.NewRequest("PUT", a.URL("/v1/kv/k"), io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("y"), 2000))))
	req.ContentLength = -1
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 413 {
		t.Errorf("chunked oversized put: %v %v", resp, err)
	}
	// Nothing the bad requests sent was written.
	if resp, body := do("GET", "/v1/kv/k?raw", nil); body != "v1" {
		t.Fatalf("after bad requests k = %q (%d), want v1", body, resp.StatusCode)
	}
}

// TestAgentSupervisesAndRestarts kills the kv child with SIGKILL, checks the
// supervisor restarts it with every acknowledged write, then stops the
// agent with SIGTERM and starts it again on the same data directory.
func TestAgentSupervisesAndRestarts(t *testing.T) {
	dir := t.TempDir()
	a := agenttest.Start(t, dir)
	kv := consulClient(t, a).KV()
	const n = 50
	for i := range n {
		if _, err := kv.Put(&api.KVPair{Key: "durable/" + strconv.Itoa(i), Value: []byte(strconv.Itoa(i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkAll := func() error {
		list, _, err := kv.List("durable/", nil)
		if err != nil {
			return err
		}
		if len(list) != n {
			return fmt.Errorf("have %d keys, want %d", len(list), n)
		}
		return nil
	}

	old := a.ChildPid("kv")
	if old == 0 {
		t.Fatal("no kv child found")
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 30*time.Second, func() error {
		if pid := a.ChildPid("kv"); pid == 0 || pid == old {
			return fmt.Errorf("kv child not restarted yet")
		}
		return checkAll()
	}, a.Output)
	if !strings.Contains(a.Output(), "[kv] ") || !strings.Contains(a.Output(), "[gateway] ") {
		t.Errorf("children's output is not prefixed with their names:\n%s", a.Output())
	}

	if err := a.Stop(20 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, a.Output())
	}
	a.Restart()
	if err := checkAll(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	p, _, err := kv.Get("durable/7", nil)
	if err != nil || p == nil || string(p.Value) != "7" {
		t.Fatalf("after restart durable/7 = %+v %v", p, err)
	}
}

// TestKVTombstonesReaped deletes keys on an agent whose tombstones live
// 300 ms: once the leader has reaped a deleted key's tombstone, the key
// answers 404 with the reaped floor, above its deletion's index and never
// below it; and once nothing is left to reap, the index stays still.
func TestKVTombstonesReaped(t *testing.T) {
	a := agenttest.Start(t, "", "-kv-tombstone-ttl", "300ms")
	kv := consulClient(t, a).KV()
	if _, err := kv.Put(&api.KVPair{Key: "gone", Value: []byte("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Delete("gone", nil); err != nil {
		t.Fatal(err)
	}
	p, meta, err := kv.Get("gone", nil)
	if err != nil || p != nil {
		t.Fatalf("deleted key: %+v %v", p, err)
	}
	deleted := meta.LastIndex

	// Keep deleting other keys, so that there is always something to reap
	// and the reaps move past the first deletion's index. Each is a new
	// key: deleting one key again and again would keep moving its one
	// tombstone forward, never TTL old, and a first reap that stopped at
	// the first deletion's index would be the last.
	var lastDelete uint64
	churn := 0
	agenttest.Eventually(t, 15*time.Second, func() error {
		churn++
		key := fmt.Sprintf("churn/%d", churn)
		if _, err := kv.Put(&api.KVPair{Key: key, Value: []byte("v")}, nil); err != nil {
			return err
		}
		if _, err := kv.Delete(key, nil); err != nil {
			return err
		}
		_, m, err := kv.Get(key, nil)
		if err != nil {
			return err
		}
		lastDelete = m.LastIndex
		_, m, err = kv.Get("gone", nil)
		if err != nil {
			return err
		}
		if m.LastIndex <= deleted {
			return fmt.Errorf("the deleted key still answers its deletion's index %d: not reaped yet", m.LastIndex)
		}
		return nil
	}, a.Output)

	// The last tombstone goes too: the floor reaches its deletion.
	agenttest.Eventually(t, 15*time.Second, func() error {
		_, m, err := kv.Get("gone", nil)
		if err != nil {
			return err
		}
		if m.LastIndex < lastDelete {
			return fmt.Errorf("floor %d, last deletion %d: not reaped yet", m.LastIndex, lastDelete)
		}
		return nil
	}, a.Output)

	// With nothing left to reap, the leader proposes nothing: over a
	// second (three TTLs, timed by a blocking query that nothing wakes),
	// the deleted key's index, the reaped floor, stays where it is.
	_, meta, err = kv.Get("gone", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Get("never-written", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Second}); err != nil {
		t.Fatal(err)
	}
	_, again, err := kv.Get("gone", nil)
	if err != nil || again.LastIndex != meta.LastIndex {
		t.Fatalf("an idle store's index moved from %d to %d (%v)", meta.LastIndex, again.LastIndex, err)
	}
}
