package bench

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseClusterFlags(t *testing.T) {
	defaults := clusterConfig{runs: 10, servers: 3, gossip: []string{"lan", "small"}, timeout: time.Minute,
		settle: 2 * time.Second, raftRTT: 20 * time.Millisecond}
	tests := []struct {
		name    string
		args    []string
		want    func(*clusterConfig)
		wantErr string
	}{
		{name: "defaults"},
		{name: "everything", args: []string{"-runs=3", "-servers=5", "-gossip=small, loopback,small", "-timeout=10s",
			"-settle=0s", "-raft-rtt=10ms", "-binary=/bin/t", "-data-dir=/tmp/d", "-keep-data"},
			want: func(c *clusterConfig) {
				c.runs, c.servers, c.gossip, c.timeout, c.settle, c.raftRTT = 3, 5, []string{"small", "loopback"}, 10*time.Second, 0, 10*time.Millisecond
				c.binary, c.dataDir, c.keepData = "/bin/t", "/tmp/d", true
			}},
		{name: "unknown profile", args: []string{"-gossip=wan"}, wantErr: `-gossip: "wan" is not lan, small or loopback`},
		{name: "empty profile", args: []string{"-gossip=lan,"}, wantErr: `-gossip: "" is not`},
		{name: "zero runs", args: []string{"-runs=0"}, wantErr: "-runs must be at least 1, not 0"},
		{name: "even servers", args: []string{"-servers=4"}, wantErr: "-servers must be odd and at least 3"},
		{name: "one server", args: []string{"-servers=1"}, wantErr: "-servers must be odd and at least 3"},
		{name: "many servers", args: []string{"-servers=9"}, wantErr: "-servers must be at most 7"},
		{name: "zero timeout", args: []string{"-timeout=0s"}, wantErr: "-timeout must be positive"},
		{name: "negative settle", args: []string{"-settle=-1s"}, wantErr: "-settle must not be negative"},
		{name: "tiny raft rtt", args: []string{"-raft-rtt=10us"}, wantErr: "-raft-rtt must be at least 1ms"},
		{name: "argument", args: []string{"now"}, wantErr: `unexpected argument "now": ` + "`tribune bench detect`"},
		{name: "unknown flag", args: []string{"-n=3"}, wantErr: "flag provided but not defined: -n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errb bytes.Buffer
			got, err := parseClusterFlags("detect", detectUsage, "lan,small", tt.args, &errb)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("parse(%q) = %+v, want an error with %q", tt.args, got, tt.wantErr)
				}
				if msg := err.Error() + errb.String(); !strings.Contains(msg, tt.wantErr) {
					t.Fatalf("parse(%q) error %q (printed %q), want %q", tt.args, err, errb.String(), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v (printed %q)", tt.args, err, errb.String())
			}
			want := defaults
			want.gossip = slices.Clone(defaults.gossip)
			if tt.want != nil {
				tt.want(&want)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("parse(%q) = %+v, want %+v", tt.args, *got, want)
			}
		})
	}
}

func TestParseKVCluster(t *testing.T) {
	got, err := parseKVCluster(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.systems, []string{"tribune", "etcd"}) || got.servers != 3 || got.clients != 256 ||
		got.rounds != 3 || got.duration != 10*time.Second || got.valueSize != 256 || got.keys != 10000 ||
		!slices.Equal(got.gossip, []string{"small"}) || got.etcdBin != "etcd" || got.quietCPU != 0.25 {
		t.Errorf("defaults = %+v", got)
	}
	got, err = parseKVCluster([]string{"-systems=etcd,tribune,etcd", "-servers=1", "-pprof-port=6060", "-quiet-cpu=0"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.systems, []string{"etcd", "tribune"}) || got.servers != 1 || got.pprofPort != 6060 || got.quietCPU != 0 {
		t.Errorf("parsed %+v", got)
	}
	for args, want := range map[string]string{
		"-systems=consul":   `-systems: "consul" is not tribune or etcd`,
		"-servers=2":        "-servers must be odd, from 1 to 7, not 2",
		"-rounds=0":         "-rounds must be at least 1",
		"-clients=0":        "-clients must be from 1 to 100000",
		"-duration=0s":      "-duration must be positive",
		"-value-size=-1":    "-value-size must be between 0",
		"-keys=0":           "-keys must be at least 1",
		"-gossip=fast":      `-gossip: "fast" is not lan, small or loopback`,
		"-pprof-port=65530": "-pprof-port: 65530 leaves no room for 3 servers' ports",
		"-quiet-cpu=2":      "-quiet-cpu must be between 0 and 1",
		"-quiet-wait=-1s":   "-quiet-wait must not be negative",
		"extra":             `unexpected argument "extra"`,
	} {
		if _, err := parseKVCluster([]string{args}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseKVCluster(%q) = %v, want an error with %q", args, err, want)
		}
	}
}

func TestClusterCommandErrors(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		code    int
		wantErr string
	}{
		{args: []string{"-h"}, code: 0, wantErr: "detect      Measures how fast a killed client agent turns critical"},
		{args: []string{"-h"}, code: 0, wantErr: "failover    Measures"},
		{args: []string{"-h"}, code: 0, wantErr: "kv-cluster  Starts a Tribune and an etcd cluster"},
		{args: []string{"detect", "-h"}, code: 0, wantErr: "Usage: tribune bench detect"},
		{args: []string{"failover", "-h"}, code: 0, wantErr: "Usage: tribune bench failover"},
		{args: []string{"kv-cluster", "-h"}, code: 0, wantErr: "Usage: tribune bench kv-cluster"},
		{args: []string{"detect", "-runs=0"}, code: 1, wantErr: "Error! -runs must be at least 1, not 0\nRun 'tribune bench detect -h' for usage.\n"},
		{args: []string{"failover", "-servers=2"}, code: 1, wantErr: "Run 'tribune bench failover -h' for usage."},
		{args: []string{"kv-cluster", "-rounds=0"}, code: 1, wantErr: "Run 'tribune bench kv-cluster -h' for usage."},
	} {
		code, _, errOut := cli.Run(t, "", tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("bench %q = %d, %q; want %d, %q", tt.args, code, errOut, tt.code, tt.wantErr)
		}
	}
}

func TestSummarize(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	if got := summarize(nil); got != (summary{}) {
		t.Errorf("summarize(nil) = %+v", got)
	}
	runs := ms(30, 10, 20)
	got := summarize(runs)
	want := summary{N: 3, Min: 10 * time.Millisecond, P50: 20 * time.Millisecond, P99: 30 * time.Millisecond,
		Max: 30 * time.Millisecond, Mean: 20 * time.Millisecond}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if !slices.Equal(runs, ms(30, 10, 20)) {
		t.Errorf("summarize sorted its argument: %v", runs)
	}
	// Nearest rank: with 100 runs p99 is the 99th, with 10 it is the 10th.
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	if s := summarize(hundred); s.P50 != 50*time.Millisecond || s.P99 != 99*time.Millisecond || s.Max != 100*time.Millisecond {
		t.Errorf("100 runs: %+v", s)
	}
	if s := summarize(ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)); s.P50 != 5*time.Millisecond || s.P99 != 10*time.Millisecond {
		t.Errorf("10 runs: %+v", s)
	}
	if s := summarize(ms(7)); s.P50 != 7*time.Millisecond || s.P99 != 7*time.Millisecond {
		t.Errorf("1 run: %+v", s)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
}

func TestParseCPULine(t *testing.T) {
	busy, total, err := parseCPULine("cpu  100 5 50 800 20 3 2 10 7 0\n")
	if err != nil {
		t.Fatal(err)
	}
	// Busy: user, nice, system, irq, softirq, steal; guest is inside user.
	if busy != 1700*time.Millisecond || total != 9900*time.Millisecond {
		t.Errorf("busy, total = %v, %v; want 1.7s, 9.9s", busy, total)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4", "cpu 1 2 x 4 5", "cpu 1 2"} {
		if _, _, err := parseCPULine(bad); err == nil {
			t.Errorf("parseCPULine(%q): no error", bad)
		}
	}
}

func TestTreeCPU(t *testing.T) {
	root := t.TempDir()
	old := procRoot
	procRoot = root
	t.Cleanup(func() { procRoot = old })
	// Agent 10 with services 11 and 12 (12 with a child 13); 20 apart.
	writeProc(t, root, 10, 1, "tribune", 100, 0)
	writeProc(t, root, 11, 10, "tribune", 50, 50)
	writeProc(t, root, 12, 10, "tribune", 10, 0)
	writeProc(t, root, 13, 12, "sh", 0, 5)
	writeProc(t, root, 20, 1, "etcd", 400, 0)
	got, err := treeCPU([]int{10})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2150 * time.Millisecond; got != want {
		t.Errorf("treeCPU(10) = %v, want %v", got, want)
	}
	if got, _ := treeCPU([]int{20, 11, 10, 99}); got != 6150*time.Millisecond {
		t.Errorf("treeCPU(20, 11, 10, 99) = %v, want 6.15s (each process once)", got)
	}
}

func TestSplitAddrs(t *testing.T) {
	if got := splitAddrs(" a:1, ,b:2,"); !slices.Equal(got, []string{"a:1", "b:2"}) {
		t.Errorf("splitAddrs = %q", got)
	}
}

// TestGRPCDriverSpreads checks that a -addr list spreads the requests over
// every address.
func TestGRPCDriverSpreads(t *testing.T) {
	a, b := newFakeKV(), newFakeKV()
	d, err := newGRPCDriver(startGRPC(t, a), startGRPC(t, b))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	for i := range 10 {
		if err := d.put(context.Background(), "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if a.puts != 5 || b.puts != 5 {
		t.Errorf("puts: %d and %d, want 5 and 5", a.puts, b.puts)
	}
	if _, err := newGRPCDriver(); err == nil {
		t.Error("newGRPCDriver(): no error")
	}
}
