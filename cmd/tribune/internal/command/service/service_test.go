package service

// The package declares a type named strings, so these tests use bytes.

import (
	"bytes"
	"context"
	"flag"
	"io"
	"testing"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
	"github.com/tribune/tribune/lib/batch"
	"github.com/tribune/tribune/services/gateway"
)

func TestGatewayWriteBatchFlagDefaults(t *testing.T) {
	fs := flag.NewFlagSet("service gateway", flag.ContinueOnError)
	cfg := gateway.DefaultConfig()
	var level string
	gatewayFlags(fs, &cfg, &level)
	def := batch.DefaultConfig()
	for name, want := range map[string]int{
		"write-batch-max-inflight": def.MaxInFlight,
		"write-batch-max-items":    def.MaxItems,
		"write-batch-max-bytes":    def.MaxBytes,
	} {
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("no -%s flag", name)
			continue
		}
		if got := f.Value.(flag.Getter).Get(); got != want {
			t.Errorf("-%s defaults to %v, want %d", name, got, want)
		}
	}
}

func TestGatewayWriteBatchFlags(t *testing.T) {
	def := batch.DefaultConfig()
	tests := []struct {
		name    string
		args    []string
		want    batch.Config
		wantErr string // a substring of the parse error; "" for none
	}{
		{name: "in flight", args: []string{"-write-batch-max-inflight=8"},
			want: batch.Config{MaxInFlight: 8, MaxItems: def.MaxItems, MaxBytes: def.MaxBytes}},
		{name: "items", args: []string{"-write-batch-max-items", "64"},
			want: batch.Config{MaxInFlight: def.MaxInFlight, MaxItems: 64, MaxBytes: def.MaxBytes}},
		{name: "bytes", args: []string{"-write-batch-max-bytes=4096"},
			want: batch.Config{MaxInFlight: def.MaxInFlight, MaxItems: def.MaxItems, MaxBytes: 4096}},
		{name: "all three", args: []string{"-write-batch-max-inflight=1", "-write-batch-max-items=2", "-write-batch-max-bytes=3"},
			want: batch.Config{MaxInFlight: 1, MaxItems: 2, MaxBytes: 3}},
		{name: "not a number", args: []string{"-write-batch-max-items=many"}, wantErr: `invalid value "many" for flag -write-batch-max-items`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := gateway.DefaultConfig()
			fs := flag.NewFlagSet("service gateway", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var level string
			gatewayFlags(fs, &cfg, &level)
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
					t.Fatalf("Parse(%q) = %v, want an error with %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.args, err)
			}
			if cfg.WriteBatch != tt.want {
				t.Errorf("Parse(%q): WriteBatch = %+v, want %+v", tt.args, cfg.WriteBatch, tt.want)
			}
		})
	}
}

// `tribune service gateway` refuses bounds that are not positive, before
// it listens, with exit code 1 and the gateway's message.
func TestGatewayRejectsBadWriteBatch(t *testing.T) {
	t.Setenv("GOGC", "100") // keep the test binary's GC setting
	tests := []struct {
		name    string
		flag    string
		wantErr string
	}{
		{name: "zero in flight", flag: "-write-batch-max-inflight=0", wantErr: "got 0, 512 and 1048576"},
		{name: "negative in flight", flag: "-write-batch-max-inflight=-1", wantErr: "got -1, 512 and 1048576"},
		{name: "zero items", flag: "-write-batch-max-items=0", wantErr: "got 4, 0 and 1048576"},
		{name: "negative items", flag: "-write-batch-max-items=-2", wantErr: "got 4, -2 and 1048576"},
		{name: "zero bytes", flag: "-write-batch-max-bytes=0", wantErr: "got 4, 512 and 0"},
		{name: "negative bytes", flag: "-write-batch-max-bytes=-3", wantErr: "got 4, 512 and -3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			c := New(command.IO{In: bytes.NewReader(nil), Out: &out, Err: &errb})
			args := []string{"gateway", "-kv-addr=unix:///nonexistent/kv.sock", "-http-addr=", "-grpc-addr=127.0.0.1:0", tt.flag}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // were the bounds accepted, the gateway would stop at once
			if code := c.Run(ctx, args); code != 1 {
				t.Fatalf("exit code %d, want 1 (stderr %q)", code, errb.String())
			}
			if msg := errb.Bytes(); !bytes.Contains(msg, []byte("WriteBatch")) || !bytes.Contains(msg, []byte(tt.wantErr)) {
				t.Fatalf("stderr %q, want the WriteBatch error with %q", msg, tt.wantErr)
			}
		})
	}
}
