package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/lib/rpc"
)

// ServiceConfig is the configuration of a service that runs one shard
// replica and serves it over gRPC (the registry and kv services).
type ServiceConfig struct {
	// NodeID is the agent's node ID; the replica ID derives from it.
	NodeID string
	// DataDir is the agent's data directory; the shard's Raft data goes in
	// a directory under it named for the service.
	DataDir string
	// RaftAddress is where the shard's Raft transport listens (host:port).
	RaftAddress string
	// ListenAddress is where the gRPC API listens: "unix:///path" or
	// "host:port".
	ListenAddress string
	// Bootstrap starts a new single-server shard when there is no Raft
	// data (the -dev agent).
	Bootstrap bool
	// BootstrapExpect, above 1, is the number of servers (-bootstrap-expect)
	// that bootstrap the shard together: a replica without Raft data waits
	// until Servers lists them (see Plan), and the shard's leader adds the
	// servers that arrive later. 0 or 1: Bootstrap decides.
	BootstrapExpect int
	// Datacenter is the agent's datacenter; only its servers count.
	Datacenter string
	// Servers lists the LAN pool's servers with this shard's Raft
	// addresses; required with BootstrapExpect > 1.
	Servers ListServers
	// Peers asks a server which replicas its copy of the shard has, so
	// that a server without Raft data joins a cluster that exists rather
	// than bootstrap one beside it (a server replacing a dead one); nil
	// asks nobody. See PeerConfigurations.
	Peers PeerConfiguration
	// BootstrapPoll is how often Servers is polled, before the bootstrap
	// and by the leader afterwards.
	BootstrapPoll time.Duration
	// ShutdownGrace bounds the graceful stop of the gRPC server.
	ShutdownGrace time.Duration

	Replica Config
	Logger  *slog.Logger
}

// DefaultServiceConfig returns the defaults for shard; NodeID, DataDir,
// RaftAddress and ListenAddress must still be set.
func DefaultServiceConfig(shard uint64) ServiceConfig {
	rc := DefaultConfig()
	rc.ShardID = shard
	return ServiceConfig{ShutdownGrace: 5 * time.Second, Replica: rc, Logger: slog.Default(),
		BootstrapPoll: 250 * time.Millisecond}
}

// Validate reports a configuration that cannot work.
func (c ServiceConfig) Validate() error {
	if err := nodeid.Validate(c.NodeID); err != nil {
		return err
	}
	switch {
	case c.DataDir == "":
		return errors.New("DataDir is required")
	case c.RaftAddress == "":
		return errors.New("RaftAddress is required")
	case c.ListenAddress == "":
		return errors.New("ListenAddress is required")
	case c.BootstrapExpect > 1 && c.Servers == nil:
		return errors.New("BootstrapExpect above 1 needs Servers (the membership service)")
	case c.BootstrapExpect > 1 && c.Bootstrap:
		return errors.New("Bootstrap and BootstrapExpect above 1 exclude each other")
	}
	return nil
}

// RunService serves the replica of cfg.Replica.ShardID in DataDir/name,
// with the state machine newFSM returns and the gRPC services attach
// registers, until ctx ends; then it stops the gRPC server and the
// replica, in that order.
//
// The gRPC services are served from the start: while a replica without
// Raft data waits for -bootstrap-expect servers, it answers as a shard
// without a leader (no leader, no peers, ErrNoLeader for proposals and
// reads), as a Consul server does before its bootstrap. attach may wait
// for r.Started() before work that needs the shard.
func RunService(ctx context.Context, name string, cfg ServiceConfig,
	newFSM func() sm.IConcurrentStateMachine, attach func(*Replica, grpc.ServiceRegistrar) error) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rc := cfg.Replica
	rc.ReplicaID = nodeid.ReplicaID(cfg.NodeID)
	rc.Dir = filepath.Join(cfg.DataDir, name)
	rc.RaftAddress = cfg.RaftAddress
	rc.Logger = log
	rc.InitialMembers, rc.Join = nil, false
	if err := rc.Validate(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	poll := cfg.BootstrapPoll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	r := pending(rc)
	defer r.Close() // after the gRPC server has stopped: deferred first
	g := rpc.NewServer()
	if err := attach(r, g); err != nil {
		return err
	}
	l, err := rpc.Listen(cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("%s: listen on %s: %w", name, cfg.ListenAddress, err)
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- rpc.Serve(serveCtx, g, l, cfg.ShutdownGrace) }()

	if err := startReplica(ctx, name, cfg, r, poll, newFSM, log); err != nil {
		stopServing()
		<-served
		return err
	}
	if cfg.BootstrapExpect > 1 {
		go r.FollowServers(serveCtx, cfg.Servers, cfg.Datacenter, cfg.BootstrapExpect, poll, log)
	}
	log.Info(name+" service started", "grpc", cfg.ListenAddress, "raft", cfg.RaftAddress,
		"shard", rc.ShardID, "replica", rc.ReplicaID)
	return <-served
}

// startReplica starts the pending replica r: from its Raft data if it has
// some, else alone (Bootstrap), else as -bootstrap-expect decides, once
// enough servers are in the gossip pool.
func startReplica(ctx context.Context, name string, cfg ServiceConfig, r *Replica, poll time.Duration,
	newFSM func() sm.IConcurrentStateMachine, log *slog.Logger) error {
	var initial map[uint64]string
	join := false
	switch {
	case HasRaftData(r.cfg.Dir):
		// A restart: Dragonboat ignores InitialMembers and Join.
		log.Info(name+": Raft data found, restarting the replica from it", "dir", r.cfg.Dir)
	case cfg.Bootstrap:
		initial = map[uint64]string{r.cfg.ReplicaID: cfg.RaftAddress}
	case cfg.BootstrapExpect > 1:
		var err error
		initial, join, err = waitBootstrap(ctx, cfg.Servers, cfg.Peers, cfg.Datacenter, cfg.BootstrapExpect,
			cfg.NodeID, cfg.RaftAddress, poll, log)
		if err != nil {
			return err
		}
		if join {
			log.Info(name+": more servers than -bootstrap-expect: joining the existing cluster; its leader adds this server",
				"expect", cfg.BootstrapExpect)
		} else {
			log.Info(name+": bootstrapping the shard", "expect", cfg.BootstrapExpect, "members", initial)
		}
	}
	return r.start(initial, join, func(uint64, uint64) sm.IConcurrentStateMachine { return newFSM() })
}
