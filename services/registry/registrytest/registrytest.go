// Package registrytest runs a real single-server registry service in the
// test's process, on a Raft shard in a temporary directory, for the tests
// of the services that talk to it.
package registrytest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/lib/rpc"
	batchv1 "github.com/tribune/tribune/sdk/go/tribune/registry/batch/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/registry"
)

// Registry is a running registry service.
type Registry struct {
	// Address is its gRPC address (a unix socket).
	Address string
	Client  registryv1.RegistryServiceClient
	// Batch is its batch API, which a server's gateway uses.
	Batch batchv1.BatchServiceClient
}

// Start runs a registry for node until the test ends, and waits until it
// serves reads.
func Start(t testing.TB, node string) *Registry {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := l.Addr().String()
	l.Close()
	cfg := registry.DefaultConfig()
	cfg.NodeID = nodeid.New()
	cfg.DataDir = dir
	cfg.RaftAddress = raftAddr
	cfg.ListenAddress = rpc.UnixPrefix + filepath.Join(dir, "registry.sock")
	cfg.Bootstrap = true
	cfg.Replica.RTT = 5 * time.Millisecond
	cfg.Self = &registryv1.Node{Node: node, Address: "127.0.0.1", Id: cfg.NodeID}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- registry.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("registry did not stop")
		}
	})
	conn, err := rpc.Dial(cfg.ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := &Registry{Address: cfg.ListenAddress, Client: registryv1.NewRegistryServiceClient(conn),
		Batch: batchv1.NewBatchServiceClient(conn)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := r.Client.NodeChecks(ctx, &registryv1.NodeChecksRequest{Node: node})
		cancel()
		// Ready once the server has registered itself.
		if err == nil && len(resp.Checks) > 0 {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
