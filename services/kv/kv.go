// Package kv runs the KV service: one replica of the KV shard (shard 2) in
// its own Dragonboat NodeHost, served over gRPC (KVService, StatusService)
// to the agent's gateway.
//
// The parts live where their names say: store (the data), fsm (the
// replicated state machine), server (the gRPC API).
package kv

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/replica"
	"github.com/tribune/tribune/lib/rpc"
	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
	"github.com/tribune/tribune/services/kv/fsm"
	"github.com/tribune/tribune/services/kv/server"
)

// ShardID is the KV shard's ID in every server's NodeHost.
const ShardID = 2

// Config is the KV service's configuration.
type Config struct {
	replica.ServiceConfig
	Server server.Config

	// MembershipAddress is the local membership service's gRPC address:
	// with BootstrapExpect above 1 the shard's servers are found through it
	// (their "kv_port" tags).
	MembershipAddress string

	// TombstoneTTL is how long the tombstone of a deleted key is kept, so
	// that blocking queries and watches see the deletion, before the
	// leader reaps it (Consul: 15m); TombstoneGCInterval is how often the
	// leader looks (Consul's granularity: 30s).
	TombstoneTTL        time.Duration
	TombstoneGCInterval time.Duration
}

// KVPortTag is the gossip tag of a server's KV shard Raft port.
const KVPortTag = "kv_port"

// DefaultConfig returns the defaults; NodeID, DataDir, RaftAddress and
// ListenAddress must still be set.
func DefaultConfig() Config {
	return Config{ServiceConfig: replica.DefaultServiceConfig(ShardID), Server: server.DefaultConfig(),
		TombstoneTTL: 15 * time.Minute, TombstoneGCInterval: 30 * time.Second}
}

// Run starts the replica in DataDir/kv and serves it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Server.Validate(); err != nil {
		return err
	}
	if cfg.TombstoneTTL <= 0 || cfg.TombstoneGCInterval <= 0 {
		return fmt.Errorf("kv: TombstoneTTL (%v) and TombstoneGCInterval (%v) must be positive", cfg.TombstoneTTL, cfg.TombstoneGCInterval)
	}
	cfg.Replica.ShardID = ShardID
	var gossip replica.ListServers
	if cfg.MembershipAddress != "" {
		conn, err := rpc.Dial(cfg.MembershipAddress)
		if err != nil {
			return fmt.Errorf("kv: dial membership at %s: %w", cfg.MembershipAddress, err)
		}
		defer conn.Close()
		gossip = Servers(membershipv1.NewMembershipServiceClient(conn), KVPortTag)
		if cfg.BootstrapExpect > 1 {
			cfg.Servers = gossip
			cfg.Peers = replica.PeerConfigurations(statusv1.Shard_SHARD_KV)
		}
	}
	hub := blocking.NewHub()
	handoff := replica.NewHandoff()
	return replica.RunService(ctx, "kv", cfg.ServiceConfig,
		func() sm.IConcurrentStateMachine { return fsm.New(hub, handoff) },
		func(r *replica.Replica, g grpc.ServiceRegistrar) error {
			srv, err := server.New(cfg.Server, r, hub, handoff)
			if err != nil {
				return err
			}
			srv.AddTo(g)
			replica.NewStatusServer(r, cfg.NodeID, gossip).AddTo(g)
			log := cfg.Logger
			if log == nil {
				log = slog.Default()
			}
			go reapTombstones(ctx, r, cfg.TombstoneTTL, cfg.TombstoneGCInterval, log)
			return nil
		})
}

// Servers lists the LAN pool's servers through the membership service, with
// the Raft addresses their portTag tag names.
func Servers(c membershipv1.MembershipServiceClient, portTag string) replica.ListServers {
	return replica.GossipServers(c, portTag)
}
