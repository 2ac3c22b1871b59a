// Package kv runs the KV service: one replica of the KV shard (shard 2) in
// its own Dragonboat NodeHost, served over gRPC (KVService, StatusService)
// to the agent's gateway.
//
// The parts live where their names say: store (the data), fsm (the
// replicated state machine), server (the gRPC API).
package kv

import (
	"context"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/replica"
	"github.com/tribune/tribune/services/kv/fsm"
	"github.com/tribune/tribune/services/kv/server"
)

// ShardID is the KV shard's ID in every server's NodeHost.
const ShardID = 2

// Config is the KV service's configuration.
type Config struct {
	replica.ServiceConfig
	Server server.Config
}

// DefaultConfig returns the defaults; NodeID, DataDir, RaftAddress and
// ListenAddress must still be set.
func DefaultConfig() Config {
	return Config{ServiceConfig: replica.DefaultServiceConfig(ShardID), Server: server.DefaultConfig()}
}

// Run starts the replica in DataDir/kv and serves it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Server.Validate(); err != nil {
		return err
	}
	cfg.Replica.ShardID = ShardID
	hub := blocking.NewHub()
	return replica.RunService(ctx, "kv", cfg.ServiceConfig,
		func() sm.IConcurrentStateMachine { return fsm.New(hub) },
		func(r *replica.Replica, g grpc.ServiceRegistrar) error {
			srv, err := server.New(cfg.Server, r, hub)
			if err != nil {
				return err
			}
			srv.AddTo(g)
			return nil
		})
}
