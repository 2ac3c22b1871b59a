package agent

import (
	"flag"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tribune/tribune/lib/batch"
)

// parseFlags parses args as the agent does and validates them.
func parseFlags(t *testing.T, args []string) (flags, error) {
	t.Helper()
	var f flags
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	return f, f.validate()
}

func TestWriteBatchFlags(t *testing.T) {
	def := batch.DefaultConfig()
	tests := []struct {
		name    string
		args    []string
		want    batch.Config
		wantErr string // a substring of the error; "" for none
	}{
		{name: "defaults", args: nil, want: def},
		{name: "in flight", args: []string{"-write-batch-max-inflight=8"},
			want: batch.Config{MaxInFlight: 8, MaxItems: def.MaxItems, MaxBytes: def.MaxBytes}},
		{name: "items", args: []string{"-write-batch-max-items", "64"},
			want: batch.Config{MaxInFlight: def.MaxInFlight, MaxItems: 64, MaxBytes: def.MaxBytes}},
		{name: "bytes", args: []string{"-write-batch-max-bytes=4096"},
			want: batch.Config{MaxInFlight: def.MaxInFlight, MaxItems: def.MaxItems, MaxBytes: 4096}},
		{name: "smallest", args: []string{"-write-batch-max-inflight=1", "-write-batch-max-items=1", "-write-batch-max-bytes=1"},
			want: batch.Config{MaxInFlight: 1, MaxItems: 1, MaxBytes: 1}},
		{name: "zero in flight", args: []string{"-write-batch-max-inflight=0"}, wantErr: "-write-batch-max-inflight: must be positive, got 0"},
		{name: "negative in flight", args: []string{"-write-batch-max-inflight=-1"}, wantErr: "-write-batch-max-inflight: must be positive, got -1"},
		{name: "zero items", args: []string{"-write-batch-max-items=0"}, wantErr: "-write-batch-max-items: must be positive, got 0"},
		{name: "negative items", args: []string{"-write-batch-max-items=-7"}, wantErr: "-write-batch-max-items: must be positive, got -7"},
		{name: "zero bytes", args: []string{"-write-batch-max-bytes=0"}, wantErr: "-write-batch-max-bytes: must be positive, got 0"},
		{name: "negative bytes", args: []string{"-write-batch-max-bytes=-1"}, wantErr: "-write-batch-max-bytes: must be positive, got -1"},
		{name: "not a number", args: []string{"-write-batch-max-bytes=1MiB"}, wantErr: `invalid value "1MiB" for flag -write-batch-max-bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-dev"}, tt.args...)
			f, err := parseFlags(t, args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("flags %q: %v, want an error with %q", args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("flags %q: %v", args, err)
			}
			if f.writeBatch != tt.want {
				t.Errorf("flags %q: write batch %+v, want %+v", args, f.writeBatch, tt.want)
			}
		})
	}
}

// The agent passes its write batch bounds to the gateway child.
func TestGatewayArgsWriteBatch(t *testing.T) {
	def := batch.DefaultConfig()
	tests := []struct {
		name string
		args []string
		want batch.Config
	}{
		{name: "defaults", want: def},
		{name: "given", args: []string{"-write-batch-max-inflight=2", "-write-batch-max-items=100", "-write-batch-max-bytes=65536"},
			want: batch.Config{MaxInFlight: 2, MaxItems: 100, MaxBytes: 65536}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseFlags(t, append([]string{"-dev"}, tt.args...))
			if err != nil {
				t.Fatal(err)
			}
			args := gatewayArgs(f, "/d/health.sock", "/d/membership.sock")
			if !slices.Equal(args[:2], []string{"service", "gateway"}) {
				t.Fatalf("gateway args %q do not start with service gateway", args)
			}
			for name, want := range map[string]int{
				"-write-batch-max-inflight": tt.want.MaxInFlight,
				"-write-batch-max-items":    tt.want.MaxItems,
				"-write-batch-max-bytes":    tt.want.MaxBytes,
			} {
				if got, ok := flagValue(args, name); !ok || got != strconv.Itoa(want) {
					t.Errorf("gateway args %q: %s = %q (given %t), want %d", args, name, got, ok, want)
				}
			}
		})
	}
}

// flagValue returns the value that follows name in args.
func flagValue(args []string, name string) (string, bool) {
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}
