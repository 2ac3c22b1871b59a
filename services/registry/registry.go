// Package registry runs the catalog service: one replica of the registry
// shard (shard 1) in its own Dragonboat NodeHost, served over gRPC
// (RegistryService, StatusService) to the agent's gateway.
//
// The parts live where their names say: store (the catalog), fsm (the
// replicated state machine), server (the gRPC API).
package registry

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
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
	"github.com/tribune/tribune/services/registry/fsm"
	"github.com/tribune/tribune/services/registry/server"
)

// ShardID is the registry shard's ID in every server's NodeHost.
const ShardID = 1

// ServiceName is the name under which servers register themselves in the
// catalog: Consul's "consul" service, under Tribune's name.
const ServiceName = "tribune"

// SerfHealthID is the ID of every node's gossip health check, as in Consul.
const SerfHealthID = "serfHealth"

// Config is the registry service's configuration.
type Config struct {
	replica.ServiceConfig
	Server server.Config

	// Self describes this server's node; the service registers it in the
	// catalog once the shard has a leader, with a serfHealth check and the
	// ServiceName service on SelfPort.
	Self     *registryv1.Node
	SelfPort int

	// MembershipAddress is the local membership service's gRPC address.
	// When set, the shard's leader keeps every LAN member's serfHealth
	// check and node record in step with gossip. Empty: the server's own
	// serfHealth stays passing while it runs.
	MembershipAddress string
	// ReconcileInterval is how often leadership is checked to start or
	// stop following gossip.
	ReconcileInterval time.Duration
}

// DefaultConfig returns the defaults; NodeID, DataDir, RaftAddress,
// ListenAddress and Self must still be set.
func DefaultConfig() Config {
	return Config{ServiceConfig: replica.DefaultServiceConfig(ShardID), Server: server.DefaultConfig(), SelfPort: 8300,
		ReconcileInterval: time.Second}
}

// Run starts the replica in DataDir/registry and serves it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Server.Validate(); err != nil {
		return err
	}
	if cfg.Self == nil || cfg.Self.Node == "" || cfg.Self.Address == "" {
		return fmt.Errorf("registry: Self needs a node name and an address")
	}
	cfg.Replica.ShardID = ShardID
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg.Datacenter = cfg.Server.Datacenter
	var members membershipv1.MembershipServiceClient
	var gossip replica.ListServers
	if cfg.MembershipAddress != "" {
		conn, err := rpc.Dial(cfg.MembershipAddress)
		if err != nil {
			return fmt.Errorf("registry: dial membership at %s: %w", cfg.MembershipAddress, err)
		}
		defer conn.Close()
		members = membershipv1.NewMembershipServiceClient(conn)
		gossip = replica.GossipServers(members, "port")
		if cfg.BootstrapExpect > 1 {
			cfg.Servers = gossip
			cfg.Peers = replica.PeerConfigurations(statusv1.Shard_SHARD_REGISTRY)
		}
	}
	hub := blocking.NewHub()
	handoff := replica.NewHandoff()
	return replica.RunService(ctx, "registry", cfg.ServiceConfig,
		func() sm.IConcurrentStateMachine { return fsm.New(hub, handoff) },
		func(r *replica.Replica, g grpc.ServiceRegistrar) error {
			srv, err := server.New(cfg.Server, r, hub, handoff)
			if err != nil {
				return err
			}
			srv.AddTo(g)
			replica.NewStatusServer(r, cfg.NodeID, gossip).AddTo(g)
			go func() {
				// Until the shard has started (-bootstrap-expect waits
				// for servers) there is nothing to register or lead.
				select {
				case <-r.Started():
				case <-ctx.Done():
					return
				}
				go registerSelf(ctx, log, srv, cfg)
				if members != nil {
					rec := &reconciler{
						datacenter: cfg.Server.Datacenter,
						members:    members,
						srv:        srv, raft: r, log: log, every: cfg.ReconcileInterval,
					}
					rec.run(ctx)
				}
			}()
			return nil
		})
}

// registerSelf puts this server's node in the catalog, retrying until it
// succeeds or ctx ends. Until gossip membership drives it, the node's
// serfHealth check is passing while the server runs.
func registerSelf(ctx context.Context, log *slog.Logger, srv *server.Server, cfg Config) {
	req := &registryv1.RegisterRequest{
		Node: cfg.Self,
		Service: &registryv1.Service{
			Id: ServiceName, Service: ServiceName, Port: int32(cfg.SelfPort),
		},
		Checks: []*registryv1.Check{{
			CheckId: SerfHealthID, Name: "Serf Health Status", Status: "passing",
			Output: "Agent alive and reachable",
		}},
	}
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, 5*time.Second) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := srv.Register(rctx, req)
		cancel()
		if err == nil {
			log.Info("registered this server in the catalog", "node", cfg.Self.Node)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}
