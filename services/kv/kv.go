// Package kv runs the KV service: one replica of the KV shard (shard 2) in
// its own Dragonboat NodeHost, served over gRPC (KVService, StatusService)
// to the agent's gateway.
//
// The parts live where their names say: store (the data), fsm (the
// replicated state machine), server (the gRPC API).
package kv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/lib/replica"
	"github.com/tribune/tribune/lib/rpc"
	"github.com/tribune/tribune/services/kv/fsm"
	"github.com/tribune/tribune/services/kv/server"
)

// ShardID is the KV shard's ID in every server's NodeHost.
const ShardID = 2

// Config is the KV service's configuration.
type Config struct {
	// NodeID is the agent's node ID; the replica ID derives from it.
	NodeID string
	// DataDir is the agent's data directory; the shard's Raft data goes
	// in DataDir/kv.
	DataDir string
	// RaftAddress is where the shard's Raft transport listens (host:port).
	RaftAddress string
	// ListenAddress is where the gRPC API listens: "unix:///path" or
	// "host:port".
	ListenAddress string
	// Bootstrap starts a new single-server shard when there is no Raft
	// data (the -dev agent). Multi-server bootstrap comes with gossip.
	Bootstrap bool
	// ShutdownGrace bounds the graceful stop of the gRPC server.
	ShutdownGrace time.Duration

	Replica replica.Config
	Server  server.Config
	Logger  *slog.Logger
}

// DefaultConfig returns the defaults; NodeID, DataDir, RaftAddress and
// ListenAddress must still be set.
func DefaultConfig() Config {
	rc := replica.DefaultConfig()
	rc.ShardID = ShardID
	return Config{
		ShutdownGrace: 5 * time.Second,
		Replica:       rc,
		Server:        server.DefaultConfig(),
		Logger:        slog.Default(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if err := nodeid.Validate(c.NodeID); err != nil {
		return fmt.Errorf("kv: %w", err)
	}
	switch {
	case c.DataDir == "":
		return errors.New("kv: DataDir is required")
	case c.RaftAddress == "":
		return errors.New("kv: RaftAddress is required")
	case c.ListenAddress == "":
		return errors.New("kv: ListenAddress is required")
	}
	return c.Server.Validate()
}

// Run starts the replica and serves it until ctx ends, then stops the gRPC
// server and the replica, in that order.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rc := cfg.Replica
	rc.ShardID = ShardID
	rc.ReplicaID = nodeid.ReplicaID(cfg.NodeID)
	rc.Dir = filepath.Join(cfg.DataDir, "kv")
	rc.RaftAddress = cfg.RaftAddress
	rc.Logger = log
	if cfg.Bootstrap {
		rc.InitialMembers = map[uint64]string{rc.ReplicaID: cfg.RaftAddress}
	}
	hub := blocking.NewHub()
	r, err := replica.Start(rc, func(uint64, uint64) sm.IConcurrentStateMachine { return fsm.New(hub) })
	if err != nil {
		return err
	}
	defer r.Close()
	srv, err := server.New(cfg.Server, r, hub)
	if err != nil {
		return err
	}
	l, err := rpc.Listen(cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("kv: listen on %s: %w", cfg.ListenAddress, err)
	}
	g := rpc.NewServer()
	srv.Register(g)
	log.Info("kv service started", "grpc", cfg.ListenAddress, "raft", cfg.RaftAddress,
		"shard", ShardID, "replica", rc.ReplicaID)
	return rpc.Serve(ctx, g, l, cfg.ShutdownGrace)
}
