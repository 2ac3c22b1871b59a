// Package gateway runs the agent's public edge: Consul's /v1 HTTP API
// (grpc-gateway, package httpapi) and the public gRPC API, both served by
// the router, which forwards each call to the service that owns its data.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tribune/tribune/lib/batch"
	"github.com/tribune/tribune/lib/rpc"
	"github.com/tribune/tribune/services/gateway/httpapi"
	"github.com/tribune/tribune/services/gateway/router"
)

// Config is the gateway's configuration.
type Config struct {
	// Datacenter is the agent's datacenter.
	Datacenter string
	// HTTPAddress is where the /v1 HTTP API listens (Consul: 8500).
	HTTPAddress string
	// GRPCAddress is where the public gRPC API listens (Consul: 8502).
	GRPCAddress string
	// KVAddress is the kv service's gRPC address. Empty on a client
	// agent: KV calls then go to a server found through MembershipAddress.
	KVAddress string
	// RegistryAddress is the registry service's gRPC address. Empty means
	// none: catalog and health calls then fail with "No known Consul
	// servers" (HTTP 500), as on a Consul agent without servers.
	RegistryAddress string
	// HealthAddress is the local health service's gRPC address. Empty
	// means none: the agent API (/v1/agent) then fails with HTTP 500.
	HealthAddress string
	// MembershipAddress is the local membership service's gRPC address.
	// Empty means none: /v1/agent/members and join fail with HTTP 500, and
	// the datacenter list is this agent's own.
	MembershipAddress string
	// MaxValueSize is the largest KV value the HTTP API accepts.
	MaxValueSize int
	// WriteBatch bounds the batches of local-datacenter KV and catalog
	// writes sent to the kv and registry services (see package batch).
	WriteBatch batch.Config
	// ShutdownGrace bounds the graceful stop of the servers.
	ShutdownGrace time.Duration
	Logger        *slog.Logger
}

// DefaultConfig returns Consul's defaults; KVAddress (and, for the catalog,
// RegistryAddress, for the agent API, HealthAddress) must still be set.
func DefaultConfig() Config {
	return Config{
		Datacenter:    "dc1",
		HTTPAddress:   "127.0.0.1:8500",
		GRPCAddress:   "127.0.0.1:8502",
		MaxValueSize:  512 << 10,
		WriteBatch:    batch.DefaultConfig(),
		ShutdownGrace: 5 * time.Second,
		Logger:        slog.Default(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Datacenter == "":
		return errors.New("gateway: Datacenter is required")
	case c.HTTPAddress == "" && c.GRPCAddress == "":
		return errors.New("gateway: an HTTP or a gRPC address is required")
	case c.KVAddress == "" && c.MembershipAddress == "":
		return errors.New("gateway: a KVAddress, or a MembershipAddress to find servers, is required")
	case c.MaxValueSize <= 0:
		return fmt.Errorf("gateway: MaxValueSize must be positive, got %d", c.MaxValueSize)
	}
	if err := c.WriteBatch.Validate(); err != nil {
		return fmt.Errorf("gateway: WriteBatch: %w", err)
	}
	return nil
}

// Run serves the HTTP and gRPC APIs until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var kvConn *grpc.ClientConn
	if cfg.KVAddress != "" {
		c, err := rpc.Dial(cfg.KVAddress, serverUnreachable...)
		if err != nil {
			return fmt.Errorf("gateway: dial kv at %s: %w", cfg.KVAddress, err)
		}
		defer c.Close()
		kvConn = c
	}
	opts := []router.Option{router.WithWriteBatching(cfg.WriteBatch)}
	if cfg.RegistryAddress != "" {
		regConn, err := rpc.Dial(cfg.RegistryAddress, serverUnreachable...)
		if err != nil {
			return fmt.Errorf("gateway: dial registry at %s: %w", cfg.RegistryAddress, err)
		}
		defer regConn.Close()
		opts = append(opts, router.WithRegistry(regConn))
	}
	if cfg.MembershipAddress != "" {
		memberConn, err := rpc.Dial(cfg.MembershipAddress)
		if err != nil {
			return fmt.Errorf("gateway: dial membership at %s: %w", cfg.MembershipAddress, err)
		}
		defer memberConn.Close()
		opts = append(opts, router.WithMembership(memberConn))
	}
	if cfg.HealthAddress != "" {
		healthConn, err := rpc.Dial(cfg.HealthAddress)
		if err != nil {
			return fmt.Errorf("gateway: dial health at %s: %w", cfg.HealthAddress, err)
		}
		defer healthConn.Close()
		opts = append(opts, router.WithHealth(healthConn))
	}
	var kv grpc.ClientConnInterface
	if kvConn != nil {
		kv = kvConn
	}
	rt, err := router.New(cfg.Datacenter, kv, opts...)
	if err != nil {
		return err
	}
	defer rt.Close()

	g, ctx := errgroup.WithContext(ctx)
	if cfg.GRPCAddress != "" {
		l, err := rpc.Listen(cfg.GRPCAddress)
		if err != nil {
			return fmt.Errorf("gateway: listen on %s: %w", cfg.GRPCAddress, err)
		}
		gs := rpc.NewServer()
		rt.AddTo(gs)
		g.Go(func() error { return rpc.Serve(ctx, gs, l, cfg.ShutdownGrace) })
	}
	if cfg.HTTPAddress != "" {
		h, err := httpapi.New(ctx, httpapi.Config{MaxValueSize: cfg.MaxValueSize, Datacenter: cfg.Datacenter},
			httpapi.Services{KV: rt, Status: rt, Registry: rt.Registry(), Agent: rt.Agent(), Members: rt.Members()})
		if err != nil {
			return err
		}
		l, err := rpc.Listen(cfg.HTTPAddress)
		if err != nil {
			return fmt.Errorf("gateway: listen on %s: %w", cfg.HTTPAddress, err)
		}
		hs := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			// No write timeout: blocking queries hold answers for minutes.
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		g.Go(func() error {
			if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				return hs.Close()
			}
			return nil
		})
	}
	log.Info("gateway started", "http", cfg.HTTPAddress, "grpc", cfg.GRPCAddress,
		"datacenter", cfg.Datacenter, "registry", cfg.RegistryAddress, "health", cfg.HealthAddress)
	return g.Wait()
}

// serverUnreachable reports a local replica service that does not answer
// (starting, or waiting for -bootstrap-expect servers) as Consul does:
// 500 "No cluster leader", which clients retry, instead of a dial error.
var serverUnreachable = []grpc.DialOption{
	grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return noLeader(invoker(ctx, method, req, reply, cc, opts...))
	}),
	grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		return s, noLeader(err)
	}),
}

func noLeader(err error) error {
	if s, ok := status.FromError(err); ok && s.Code() == codes.Unavailable && strings.Contains(s.Message(), "connection error") {
		return status.Error(codes.Unavailable, "No cluster leader")
	}
	return err
}
