package bench

import (
	"flag"
	"io"
	"testing"
	"time"
)

// loadValues are what loadFlags fills.
type loadValues struct {
	target, addr      string
	clients           int
	duration, timeout time.Duration
	requests          int64
	json              bool
}

func TestLoadFlags(t *testing.T) {
	defaults := loadValues{target: "grpc", addr: "127.0.0.1:8502", clients: 32, duration: 10 * time.Second, timeout: 10 * time.Second}
	with := func(f func(*loadValues)) loadValues {
		v := defaults
		f(&v)
		return v
	}
	tests := []struct {
		name    string
		args    []string
		want    loadValues
		wantErr string // the whole error
	}{
		{name: "defaults", want: defaults},
		{name: "http default addr", args: []string{"-target=http"},
			want: with(func(v *loadValues) { v.target, v.addr = "http", "127.0.0.1:8500" })},
		{name: "etcd default addr", args: []string{"-target=etcd"},
			want: with(func(v *loadValues) { v.target, v.addr = "etcd", "127.0.0.1:2379" })},
		{name: "unknown target, no default addr", args: []string{"-target=redis"},
			want: with(func(v *loadValues) { v.target, v.addr = "redis", "" })},
		{name: "explicit addr", args: []string{"-target=http", "-addr=h:1"},
			want: with(func(v *loadValues) { v.target, v.addr = "http", "h:1" })},
		{name: "everything", args: []string{"-clients=100000", "-duration=2s", "-timeout=1s", "-json"},
			want: with(func(v *loadValues) {
				v.clients, v.duration, v.timeout, v.json = 100000, 2*time.Second, time.Second, true
			})},
		{name: "requests replace duration", args: []string{"-requests=7"},
			want: with(func(v *loadValues) { v.requests, v.duration = 7, 0 })},
		{name: "one client", args: []string{"-clients=1"}, want: with(func(v *loadValues) { v.clients = 1 })},
		// -timeout is the subcommand's to check.
		{name: "zero timeout passes", args: []string{"-timeout=0s"}, want: with(func(v *loadValues) { v.timeout = 0 })},

		{name: "zero clients", args: []string{"-clients=0"}, wantErr: "-clients must be at least 1, not 0"},
		{name: "negative clients", args: []string{"-clients=-1"}, wantErr: "-clients must be at least 1, not -1"},
		{name: "too many clients", args: []string{"-clients=100001"}, wantErr: "-clients must be at most 100000, not 100001"},
		{name: "duration and requests", args: []string{"-duration=1s", "-requests=5"},
			wantErr: "-duration and -requests are exclusive: give one"},
		{name: "default duration given and requests", args: []string{"-requests=5", "-duration=10s"},
			wantErr: "-duration and -requests are exclusive: give one"},
		{name: "negative requests", args: []string{"-requests=-3"}, wantErr: "-requests must be positive, not -3"},
		{name: "zero requests", args: []string{"-requests=0"}, wantErr: "-requests must be positive, not 0"},
		{name: "zero duration", args: []string{"-duration=0s"}, wantErr: "-duration must be positive, not 0s"},
		{name: "negative duration", args: []string{"-duration=-1s"}, wantErr: "-duration must be positive, not -1s"},
		{name: "clients before duration", args: []string{"-clients=0", "-duration=0s"},
			wantErr: "-clients must be at least 1, not 0"},
		{name: "exclusive before zero requests", args: []string{"-duration=0s", "-requests=0"},
			wantErr: "-duration and -requests are exclusive: give one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v loadValues
			lf := loadFlags{target: &v.target, addr: &v.addr, clients: &v.clients, duration: &v.duration,
				requests: &v.requests, timeout: &v.timeout, json: &v.json}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			lf.register(fs, 32, "target usage", "addr usage")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatalf("Parse(%q): %v", tt.args, err)
			}
			err := lf.validate()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("validate() after %q = %v, want %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validate() after %q: %v", tt.args, err)
			}
			lf.finish()
			if v != tt.want {
				t.Errorf("after %q: %+v, want %+v", tt.args, v, tt.want)
			}
		})
	}
}

func TestLoadFlagsUsage(t *testing.T) {
	var v loadValues
	lf := loadFlags{target: &v.target, addr: &v.addr, clients: &v.clients, duration: &v.duration,
		requests: &v.requests, timeout: &v.timeout, json: &v.json}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	lf.register(fs, 32, "target usage", "addr usage")
	for name, want := range map[string][2]string{
		"target":   {"grpc", "target usage"},
		"addr":     {"", "addr usage"},
		"clients":  {"32", "The number of concurrent clients, each with one request in flight."},
		"duration": {"10s", "How long to run; exclusive with -requests."},
		"requests": {"0", "Stop after this many requests in all instead of after -duration."},
		"timeout":  {"10s", "The timeout of each request; one that expires counts as an error."},
		"json":     {"false", "Print the result as one JSON object instead of a table."},
	} {
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("-%s not declared", name)
			continue
		}
		if f.DefValue != want[0] || f.Usage != want[1] {
			t.Errorf("-%s: default %q, usage %q; want %q, %q", name, f.DefValue, f.Usage, want[0], want[1])
		}
	}
}
