package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tribune/tribune/cmd/tribune/internal/command/commandtest"
	"github.com/tribune/tribune/lib/rpc"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
)

func TestParse(t *testing.T) {
	defaults := config{
		target: "grpc", addr: "127.0.0.1:8502", clients: 256, duration: 10 * time.Second,
		valueSize: 256, keys: 10000, op: "put", prefix: "bench/", timeout: 10 * time.Second,
	}
	with := func(f func(*config)) *config {
		c := defaults
		f(&c)
		return &c
	}
	tests := []struct {
		name    string
		args    []string
		want    *config
		wantErr string // a substring of the error or of what the flag package printed
	}{
		{name: "defaults", args: nil, want: &defaults},
		{name: "http default addr", args: []string{"-target", "http"},
			want: with(func(c *config) { c.target, c.addr = "http", "127.0.0.1:8500" })},
		{name: "etcd default addr", args: []string{"-target=etcd"},
			want: with(func(c *config) { c.target, c.addr = "etcd", "127.0.0.1:2379" })},
		{name: "explicit addr", args: []string{"-target=http", "-addr=127.0.0.1:18500"},
			want: with(func(c *config) { c.target, c.addr = "http", "127.0.0.1:18500" })},
		{name: "requests replace duration", args: []string{"-requests=1000"},
			want: with(func(c *config) { c.requests, c.duration = 1000, 0 })},
		{name: "everything", args: []string{"-clients=8", "-duration=2s", "-value-size=0", "-keys=1",
			"-op=mixed", "-prefix=x/", "-json", "-timeout=1s"},
			want: with(func(c *config) {
				c.clients, c.duration, c.valueSize, c.keys, c.op, c.prefix, c.json, c.timeout =
					8, 2*time.Second, 0, 1, "mixed", "x/", true, time.Second
			})},
		{name: "unknown target", args: []string{"-target=redis"}, wantErr: `-target must be grpc, http or etcd, not "redis"`},
		{name: "unknown op", args: []string{"-op=delete"}, wantErr: `-op must be put, get or mixed, not "delete"`},
		{name: "zero clients", args: []string{"-clients=0"}, wantErr: "-clients must be at least 1, not 0"},
		{name: "too many clients", args: []string{"-clients=1000000"}, wantErr: "-clients must be at most 100000"},
		{name: "non-numeric clients", args: []string{"-clients=many"}, wantErr: `invalid value "many" for flag -clients`},
		{name: "zero duration", args: []string{"-duration=0s"}, wantErr: "-duration must be positive, not 0s"},
		{name: "negative duration", args: []string{"-duration=-1s"}, wantErr: "-duration must be positive, not -1s"},
		{name: "bad duration", args: []string{"-duration=10"}, wantErr: `invalid value "10" for flag -duration`},
		{name: "duration and requests", args: []string{"-duration=1s", "-requests=5"}, wantErr: "-duration and -requests are exclusive"},
		{name: "zero requests", args: []string{"-requests=0"}, wantErr: "-requests must be positive, not 0"},
		{name: "negative requests", args: []string{"-requests=-3"}, wantErr: "-requests must be positive, not -3"},
		{name: "negative value size", args: []string{"-value-size=-1"}, wantErr: "-value-size must be between 0 and 524288 bytes, not -1"},
		{name: "huge value size", args: []string{"-value-size=1000000"}, wantErr: "-value-size must be between 0 and 524288 bytes"},
		{name: "zero keys", args: []string{"-keys=0"}, wantErr: "-keys must be at least 1, not 0"},
		{name: "zero timeout", args: []string{"-timeout=0s"}, wantErr: "-timeout must be positive"},
		{name: "http slash prefix", args: []string{"-target=http", "-prefix=/a"}, wantErr: `-prefix must not start with "/"`},
		{name: "positional argument", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
		{name: "unknown flag", args: []string{"-concurrency=5"}, wantErr: "flag provided but not defined: -concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkParse(t, "parse", parse, tt.args, tt.want, tt.wantErr) })
	}
}

// checkParse checks a case of a parse function's table: with wantErr,
// the error or what the flag package printed must contain it; otherwise
// the configuration must be want.
func checkParse[C comparable](t *testing.T, name string, parse func([]string, io.Writer) (*C, error), args []string, want *C, wantErr string) {
	t.Helper()
	var errb bytes.Buffer
	got, err := parse(args, &errb)
	if wantErr != "" {
		if err == nil {
			t.Fatalf("%s(%q) = %+v, want an error with %q", name, args, got, wantErr)
		}
		if msg := err.Error() + errb.String(); !strings.Contains(msg, wantErr) {
			t.Fatalf("%s(%q) error %q (printed %q), want it to contain %q", name, args, err, errb.String(), wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s(%q) error: %v (printed %q)", name, args, err, errb.String())
	}
	if *got != *want {
		t.Errorf("%s(%q) = %+v, want %+v", name, args, *got, *want)
	}
}

// cli is `tribune bench`.
var cli = commandtest.Cmd{New: New}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "no subcommand", wantCode: 1, wantErr: "Usage: tribune bench <subcommand>"},
		{name: "help", args: []string{"-h"}, wantCode: 0, wantErr: "Subcommands:"},
		{name: "kv help", args: []string{"kv", "-h"}, wantCode: 0, wantErr: "Usage: tribune bench kv"},
		{name: "unknown subcommand", args: []string{"sql"}, wantCode: 1, wantErr: `Unknown subcommand: "sql"`},
		{name: "bad value", args: []string{"kv", "-clients=-1"}, wantCode: 1,
			wantErr: "Error! -clients must be at least 1, not -1\nRun 'tribune bench kv -h' for usage.\n"},
		{name: "bad flag", args: []string{"kv", "-nope"}, wantCode: 1, wantErr: "flag provided but not defined: -nope"},
		{name: "bad http addr", args: []string{"kv", "-target=http", "-addr=http://", "-requests=1"}, wantCode: 1,
			wantErr: `Error! Cannot connect to http at http://: invalid -addr "http://"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli.Run(t, "", tt.args...)
			if code != tt.wantCode || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout, stderr with %q",
					code, out, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// fakeKV is an in-memory store behind both a fake Consul /v1/kv and a fake
// Tribune KVService.
type fakeKV struct {
	kvv1.UnimplementedKVServiceServer
	mu    sync.Mutex
	data  map[string][]byte
	puts  int
	gets  int
	delay time.Duration
}

func newFakeKV() *fakeKV { return &fakeKV{data: map[string][]byte{}} }

func (f *fakeKV) store(key string, v []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[key] = bytes.Clone(v)
	f.puts++
}

func (f *fakeKV) load(key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	v, ok := f.data[key]
	return v, ok
}

func (f *fakeKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(f.delay)
	key, ok := strings.CutPrefix(r.URL.Path, "/v1/kv/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		f.store(key, body)
		_, _ = io.WriteString(w, "true")
	case http.MethodGet:
		v, ok := f.load(key)
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode([]map[string]any{{"Key": key, "Value": v}})
	}
}

func (f *fakeKV) Put(_ context.Context, req *kvv1.PutRequest) (*kvv1.PutResponse, error) {
	time.Sleep(f.delay)
	f.store(req.GetKey(), req.GetValue())
	return &kvv1.PutResponse{Ok: true, Index: 1}, nil
}

func (f *fakeKV) Get(_ context.Context, req *kvv1.GetRequest) (*kvv1.GetResponse, error) {
	time.Sleep(f.delay)
	v, ok := f.load(req.GetKey())
	if !ok {
		return &kvv1.GetResponse{}, nil
	}
	return &kvv1.GetResponse{Pairs: []*kvv1.KVPair{{Key: req.GetKey(), Value: v}}}, nil
}

func startGRPC(t *testing.T, f *fakeKV) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := rpc.NewServer()
	kvv1.RegisterKVServiceServer(s, f)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		args     []string
		wantOps  uint64 // 0: not checked
		wantPuts int    // puts the store saw, -1: not checked
		wantGets int
	}{
		{name: "http puts", target: "http", args: []string{"-requests=500", "-clients=16", "-keys=50"},
			wantOps: 500, wantPuts: 500, wantGets: 0},
		{name: "http gets", target: "http", args: []string{"-requests=300", "-clients=8", "-keys=40", "-op=get"},
			wantOps: 300, wantPuts: 40, wantGets: 300},
		{name: "http mixed", target: "http", args: []string{"-requests=400", "-clients=8", "-keys=10", "-op=mixed"},
			wantOps: 400, wantPuts: -1},
		{name: "grpc puts", target: "grpc", args: []string{"-requests=500", "-clients=32", "-value-size=1000"},
			wantOps: 500, wantPuts: 500, wantGets: 0},
		{name: "grpc gets", target: "grpc", args: []string{"-requests=200", "-clients=4", "-keys=7", "-op=get"},
			wantOps: 200, wantPuts: 7, wantGets: 200},
		{name: "grpc for a duration", target: "grpc", args: []string{"-duration=300ms", "-clients=4"}, wantPuts: -1},
		{name: "http for a duration", target: "http", args: []string{"-duration=300ms", "-clients=4"}, wantPuts: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKV()
			f.delay = 100 * time.Microsecond
			var addr string
			if tt.target == "http" {
				srv := httptest.NewServer(f)
				t.Cleanup(srv.Close)
				addr = srv.URL
			} else {
				addr = startGRPC(t, f)
			}
			args := append([]string{"kv", "-json", "-target=" + tt.target, "-addr=" + addr}, tt.args...)
			start := time.Now()
			code, out, errOut := cli.Run(t, "", args...)
			took := time.Since(start)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var got jsonResult
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output %q is not one JSON object: %v", out, err)
			}
			if got.Errors != 0 || got.Target != tt.target || got.Addr != addr {
				t.Errorf("result %+v: want no errors, target %s at %s", got, tt.target, addr)
			}
			if tt.wantOps != 0 && got.Ops != tt.wantOps {
				t.Errorf("ops = %d, want %d", got.Ops, tt.wantOps)
			}
			if got.Ops == 0 || got.OpsPerSecond <= 0 || got.ElapsedSeconds <= 0 {
				t.Errorf("result %+v: want ops and a throughput", got)
			}
			l := got.LatencyMs
			if !(l.P50 >= 0.1 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
				t.Errorf("latencies %+v: want 0.1ms <= p50 <= p90 <= p99 <= max", l)
			}
			if tt.wantPuts >= 0 && (f.puts != tt.wantPuts || f.gets != tt.wantGets) {
				t.Errorf("store saw %d puts and %d gets, want %d and %d", f.puts, f.gets, tt.wantPuts, tt.wantGets)
			}
			if strings.Contains(tt.name, "duration") {
				if got.ElapsedSeconds < 0.3 || took > 5*time.Second {
					t.Errorf("elapsed %.3fs (took %s), want about 0.3s", got.ElapsedSeconds, took)
				}
			}
		})
	}
}

func TestLoadCountsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "3") {
			http.Error(w, "no leader", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "true")
	}))
	t.Cleanup(srv.Close)
	code, out, _ := cli.Run(t, "", "kv", "-target=http", "-addr="+srv.URL, "-requests=1000", "-clients=4", "-keys=10")
	if code != 1 {
		t.Errorf("exit %d, want 1 when requests failed", code)
	}
	// The table: a header, one row, and the first error.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "target") ||
		lines[2] != "first error: PUT: HTTP 500: no leader" {
		t.Fatalf("output %q: want a header, a row and the first error", out)
	}
	hdr, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	if len(hdr) != len(row) {
		t.Fatalf("header %q and row %q differ in length", hdr, row)
	}
	fields := map[string]string{}
	for i := range hdr {
		fields[hdr[i]] = row[i]
	}
	// Keys are bench/0..bench/9 picked uniformly: about 100 of 1000 fail.
	if fields["ops"] == "1000" || fields["errors"] == "0" || fields["target"] != "http" || fields["value"] != "256B" {
		t.Errorf("row %v: want some errors among 1000 requests", fields)
	}
}

func TestMakeKeys(t *testing.T) {
	for _, tt := range []struct {
		n           int
		first, last string
	}{{1, "p/0", "p/0"}, {10, "p/0", "p/9"}, {11, "p/00", "p/10"}, {10000, "p/0000", "p/9999"}} {
		keys := makeKeys("p/", tt.n)
		if len(keys) != tt.n || keys[0] != tt.first || keys[len(keys)-1] != tt.last {
			t.Errorf("makeKeys(p/, %d) = %d keys %q..%q, want %q..%q", tt.n, len(keys), keys[0], keys[len(keys)-1], tt.first, tt.last)
		}
	}
}
