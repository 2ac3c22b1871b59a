package gateway_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/batch"
	"github.com/tribune/tribune/lib/rpc"
	batchv1 "github.com/tribune/tribune/sdk/go/tribune/kv/batch/v1"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	"github.com/tribune/tribune/services/gateway"
)

func TestDefaultConfigWriteBatch(t *testing.T) {
	if got, want := gateway.DefaultConfig().WriteBatch, batch.DefaultConfig(); got != want {
		t.Fatalf("DefaultConfig().WriteBatch = %+v, want batch.DefaultConfig() %+v", got, want)
	}
}

func TestConfigValidateWriteBatch(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*gateway.Config)
		wantErr string // a substring of the error; "" for none
	}{
		{name: "defaults", mutate: func(*gateway.Config) {}},
		{name: "small batches", mutate: func(c *gateway.Config) { c.WriteBatch = batch.Config{MaxInFlight: 1, MaxItems: 1, MaxBytes: 1} }},
		{name: "zero in flight", mutate: func(c *gateway.Config) { c.WriteBatch.MaxInFlight = 0 }, wantErr: "WriteBatch"},
		{name: "negative in flight", mutate: func(c *gateway.Config) { c.WriteBatch.MaxInFlight = -1 }, wantErr: "WriteBatch"},
		{name: "zero items", mutate: func(c *gateway.Config) { c.WriteBatch.MaxItems = 0 }, wantErr: "WriteBatch"},
		{name: "negative items", mutate: func(c *gateway.Config) { c.WriteBatch.MaxItems = -5 }, wantErr: "WriteBatch"},
		{name: "zero bytes", mutate: func(c *gateway.Config) { c.WriteBatch.MaxBytes = 0 }, wantErr: "WriteBatch"},
		{name: "negative bytes", mutate: func(c *gateway.Config) { c.WriteBatch.MaxBytes = -1 }, wantErr: "WriteBatch"},
		{name: "unset batch bounds", mutate: func(c *gateway.Config) { c.WriteBatch = batch.Config{} }, wantErr: "WriteBatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := gateway.DefaultConfig()
			cfg.KVAddress = "unix:///nonexistent/kv.sock"
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

// Run refuses bad batch bounds before it dials or listens.
func TestRunRejectsBadWriteBatch(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.KVAddress = "unix:///nonexistent/kv.sock"
	cfg.HTTPAddress, cfg.GRPCAddress = "127.0.0.1:0", ""
	cfg.WriteBatch.MaxItems = 0
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // were the bounds accepted, Run would stop at once
	if err := gateway.Run(ctx, cfg); err == nil || !strings.Contains(err.Error(), "WriteBatch") {
		t.Fatalf("Run() = %v, want the WriteBatch validation error", err)
	}
}

// fakeKVBatch is a kv service's BatchService that records the batches it
// is sent. Its first call waits until a second call arrives alongside it,
// or for a while, so that the writes sent meanwhile queue in the gateway.
type fakeKVBatch struct {
	batchv1.UnimplementedBatchServiceServer

	mu          sync.Mutex
	sizes       []int
	inFlight    int
	maxInFlight int
	second      chan struct{} // closed when a second call is in flight
}

func (f *fakeKVBatch) Write(ctx context.Context, req *batchv1.WriteRequest) (*batchv1.WriteResponse, error) {
	f.mu.Lock()
	f.sizes = append(f.sizes, len(req.Ops))
	first := len(f.sizes) == 1
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	if f.inFlight == 2 {
		close(f.second)
	}
	f.mu.Unlock()
	if first {
		select {
		case <-f.second:
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	f.inFlight--
	f.mu.Unlock()
	resp := &batchv1.WriteResponse{}
	for range req.Ops {
		resp.Results = append(resp.Results, &batchv1.Result{Result: &batchv1.Result_Put{Put: &kvv1.PutResponse{Ok: true, Index: 1}}})
	}
	return resp, nil
}

// serveFakeKV serves fake on a unix socket in dir and returns its address.
func serveFakeKV(t *testing.T, dir string, fake *fakeKVBatch) string {
	t.Helper()
	addr := rpc.UnixPrefix + filepath.Join(dir, "kv.sock")
	l, err := rpc.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	batchv1.RegisterBatchServiceServer(gs, fake)
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)
	return addr
}

// Run hands Config.WriteBatch to the router: with one batch in flight and
// three writes a batch, concurrent puts reach the kv service one batch at
// a time, none over three writes (the defaults allow four batches at once
// of up to 512).
func TestRunWriteBatchBounds(t *testing.T) {
	dir, err := os.MkdirTemp("", "gw") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fake := &fakeKVBatch{second: make(chan struct{})}
	cfg := gateway.DefaultConfig()
	cfg.KVAddress = serveFakeKV(t, dir, fake)
	cfg.HTTPAddress, cfg.GRPCAddress = "", rpc.UnixPrefix+filepath.Join(dir, "gw.sock")
	cfg.WriteBatch = batch.Config{MaxInFlight: 1, MaxItems: 3, MaxBytes: 1 << 20}
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- gateway.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	conn, err := rpc.Dial(cfg.GRPCAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv := kvv1.NewKVServiceClient(conn)
	const puts = 10
	var g errgroup.Group
	for i := range puts {
		g.Go(func() error {
			_, err := kv.Put(ctx, &kvv1.PutRequest{Key: "k" + strconv.Itoa(i), Value: []byte("v")}, grpc.WaitForReady(true))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	fake.mu.Lock()
	defer fake.mu.Unlock()
	total := 0
	for _, n := range fake.sizes {
		total += n
		if n > cfg.WriteBatch.MaxItems {
			t.Errorf("a batch of %d writes, want at most %d (batches %v)", n, cfg.WriteBatch.MaxItems, fake.sizes)
		}
	}
	if total != puts {
		t.Errorf("the kv service got %d writes, want %d (batches %v)", total, puts, fake.sizes)
	}
	if fake.maxInFlight > cfg.WriteBatch.MaxInFlight {
		t.Errorf("%d batches in flight at once, want at most %d", fake.maxInFlight, cfg.WriteBatch.MaxInFlight)
	}
}
