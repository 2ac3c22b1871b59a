// Package rpc holds the gRPC plumbing every Tribune process shares:
// listening on a TCP address or a unix socket, dialing another service
// with the same options, and serving until a context ends.
package rpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// MaxMessageSize bounds a gRPC message: a large KV listing is one message.
const MaxMessageSize = 256 << 20

// ProposalTimeout is how long a replica gives a proposal or a read whose
// caller set no deadline (replica.Config.Timeout's default), and so how
// long a caller that relays writes for others should let one wait.
const ProposalTimeout = 10 * time.Second

// UnixPrefix marks an address that is a unix socket path.
const UnixPrefix = "unix://"

// Listen listens on addr: "unix:///path/to.sock" or "host:port". A stale
// socket file left by a killed process is removed first.
func Listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, UnixPrefix); ok {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("rpc: remove stale socket: %w", err)
		}
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", addr)
}

// Dial returns a client connection to addr (as in Listen). It does not
// wait for the server: calls fail over to it once it is up. opts are
// added to Tribune's defaults.
func Dial(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	target := addr
	if !strings.HasPrefix(addr, UnixPrefix) {
		target = "passthrough:///" + addr
	}
	return grpc.NewClient(target, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Values are up to 512 KiB by default: large windows keep a busy
		// connection from stalling on flow control.
		grpc.WithInitialWindowSize(4 << 20),
		grpc.WithInitialConnWindowSize(16 << 20),
	}, opts...)...)
}

// StreamWorkers is how many goroutines a server keeps to run its calls.
// A call that finds one free runs on a stack that earlier calls have
// already grown, instead of on a new goroutine that grows its stack again
// (runtime.morestack was a sixth of the gateway's CPU under load). Calls
// beyond it, such as long blocking queries, get goroutines of their own.
const StreamWorkers = 512

// NewServer returns a gRPC server with Tribune's limits.
func NewServer(opts ...grpc.ServerOption) *grpc.Server {
	base := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.MaxConcurrentStreams(math.MaxUint32),
		grpc.InitialWindowSize(4 << 20),
		grpc.InitialConnWindowSize(16 << 20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// Stop waits for running handlers, so nothing they use is closed
		// under them; stopping cancels their contexts, so they end promptly.
		grpc.WaitForHandlers(true),
		grpc.NumStreamWorkers(StreamWorkers),
	}
	return grpc.NewServer(append(base, opts...)...)
}

// Serve serves s on l until ctx ends, then stops gracefully, forcing the
// stop after grace.
func Serve(ctx context.Context, s *grpc.Server, l net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		s.Stop()
	}
	return nil
}
