// Package service implements `tribune service NAME ...`: one of Tribune's
// services run alone in this process. The agent starts each service this
// way as a child process; containers and tests may too.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/hashicorp/memberlist"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
	"github.com/tribune/tribune/cmd/tribune/internal/release"
	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/logging"
	"github.com/tribune/tribune/lib/replica"
	"github.com/tribune/tribune/lib/rpc"
	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/gateway"
	"github.com/tribune/tribune/services/health"
	"github.com/tribune/tribune/services/kv"
	"github.com/tribune/tribune/services/membership"
	"github.com/tribune/tribune/services/registry"
)

type cmd struct {
	io        command.IO
	pprofAddr string
}

// New returns the service command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string {
	return "Runs one Tribune service (membership, registry, kv, health, gateway) in this process"
}

func (c *cmd) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(c.io.Err, "Usage: tribune service membership|registry|kv|health|gateway [options]")
		return 1
	}
	var err error
	switch args[0] {
	case "kv":
		err = c.kv(ctx, args[1:])
	case "registry":
		err = c.registry(ctx, args[1:])
	case "health":
		err = c.health(ctx, args[1:])
	case "membership":
		err = c.membership(ctx, args[1:])
	case "gateway":
		err = c.gateway(ctx, args[1:])
	default:
		err = fmt.Errorf("unknown service %q: want membership, registry, kv, health or gateway", args[0])
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 1
	}
	fmt.Fprintf(c.io.Err, "==> %v\n", err)
	return 1
}

var errUsage = errors.New("usage")

func (c *cmd) parse(fs *flag.FlagSet, args []string) error {
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "Serve Go's profiler on this address (host:port); off when empty.")
	fs.SetOutput(c.io.Err)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.io.Err, "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}

func (c *cmd) logger(level string) (*slog.Logger, error) {
	l, err := logging.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	return logging.New(c.io.Err, l), nil
}

// start serves the profiler if asked, and returns the service's logger.
func (c *cmd) start(ctx context.Context, level string) (*slog.Logger, error) {
	log, err := c.logger(level)
	if err != nil {
		return nil, err
	}
	rpc.ServePprof(ctx, c.pprofAddr, log)
	return log, nil
}

// shardFlags registers the flags of a service that runs a shard replica.
func shardFlags(fs *flag.FlagSet, cfg *replica.ServiceConfig, name, raftAddr string, b *blocking.Config, level *string) {
	fs.StringVar(&cfg.NodeID, "node-id", "", "The agent's node ID (a UUID); the Raft replica ID derives from it.")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "The agent's data directory; Raft data goes in DATA-DIR/"+name+".")
	fs.StringVar(&cfg.RaftAddress, "raft-addr", raftAddr, "The address the shard's Raft transport listens on.")
	fs.StringVar(&cfg.ListenAddress, "grpc-addr", "", "The address of the gRPC API: unix:///path or host:port.")
	fs.BoolVar(&cfg.Bootstrap, "bootstrap", false, "Bootstrap a single-server shard if there is no Raft data.")
	fs.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "Above 1: wait for this many servers in the gossip pool (-membership-addr) and bootstrap the shard with them, if there is no Raft data.")
	fs.DurationVar(&cfg.Replica.RTT, "raft-rtt", cfg.Replica.RTT, "The Raft tick: the expected round trip between servers.")
	fs.DurationVar(&b.MaxWait, "max-query-time", b.MaxWait, "The longest a blocking query may wait.")
	fs.DurationVar(&b.DefaultWait, "default-query-time", b.DefaultWait, "The wait of a blocking query that gives none.")
	fs.StringVar(level, "log-level", "info", "Log level: trace, debug, info, warn, error.")
}

func (c *cmd) kv(ctx context.Context, args []string) error {
	cfg := kv.DefaultConfig()
	fs := flag.NewFlagSet("service kv", flag.ContinueOnError)
	var level string
	shardFlags(fs, &cfg.ServiceConfig, "kv", "127.0.0.1:8303", &cfg.Server.Blocking, &level)
	fs.IntVar(&cfg.Server.MaxValueSize, "max-value-size", cfg.Server.MaxValueSize, "The largest value a put accepts, in bytes.")
	fs.StringVar(&cfg.MembershipAddress, "membership-addr", "", "The membership service's gRPC address; needed with -bootstrap-expect above 1.")
	fs.DurationVar(&cfg.TombstoneTTL, "tombstone-ttl", cfg.TombstoneTTL, "How long a deleted key's tombstone is kept before the leader reaps it.")
	fs.DurationVar(&cfg.TombstoneGCInterval, "tombstone-gc-interval", cfg.TombstoneGCInterval, "How often the leader reaps tombstones older than -tombstone-ttl.")
	fs.StringVar(&cfg.Datacenter, "datacenter", "dc1", "The agent's datacenter.")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	log, err := c.start(ctx, level)
	if err != nil {
		return err
	}
	cfg.Logger = log
	return kv.Run(ctx, cfg)
}

func (c *cmd) registry(ctx context.Context, args []string) error {
	cfg := registry.DefaultConfig()
	fs := flag.NewFlagSet("service registry", flag.ContinueOnError)
	var level string
	self := &registryv1.Node{}
	shardFlags(fs, &cfg.ServiceConfig, "registry", "127.0.0.1:8300", &cfg.Server.Blocking, &level)
	fs.StringVar(&cfg.Server.Datacenter, "datacenter", cfg.Server.Datacenter, "The agent's datacenter.")
	fs.StringVar(&self.Node, "node", "", "This server's node name, registered in the catalog.")
	fs.StringVar(&self.Address, "advertise", "127.0.0.1", "This server's address, registered in the catalog.")
	fs.IntVar(&cfg.SelfPort, "server-port", cfg.SelfPort, "The port registered for this server's "+registry.ServiceName+" service.")
	fs.StringVar(&cfg.MembershipAddress, "membership-addr", "", "The membership service's gRPC address; the leader reconciles gossip into the catalog through it.")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	log, err := c.start(ctx, level)
	if err != nil {
		return err
	}
	self.Id, self.Datacenter = cfg.NodeID, cfg.Server.Datacenter
	cfg.Self = self
	cfg.Logger = log
	return registry.Run(ctx, cfg)
}

// strings is a repeatable string flag.
type strings []string

func (s *strings) String() string     { return fmt.Sprint(*s) }
func (s *strings) Set(v string) error { *s = append(*s, v); return nil }

func (c *cmd) health(ctx context.Context, args []string) error {
	cfg := health.DefaultConfig()
	self := &agentv1.SelfResponse{Version: release.Version}
	fs := flag.NewFlagSet("service health", flag.ContinueOnError)
	var level string
	var files, dirs strings
	fs.StringVar(&self.NodeName, "node", "", "This agent's node name.")
	fs.StringVar(&self.NodeId, "node-id", "", "This agent's node ID.")
	fs.StringVar(&self.Datacenter, "datacenter", "dc1", "The agent's datacenter.")
	fs.StringVar(&self.Address, "advertise", "127.0.0.1", "This agent's address in the catalog.")
	fs.BoolVar(&self.Server, "server", false, "Whether this agent is a server.")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "The agent's data directory; local state goes in DATA-DIR/health.")
	fs.StringVar(&cfg.ListenAddress, "grpc-addr", "", "The address of the gRPC API: unix:///path or host:port.")
	fs.StringVar(&cfg.RegistryAddress, "registry-addr", "", "The registry service's gRPC address.")
	fs.Var(&files, "config-file", "A JSON file of service and check definitions (repeatable).")
	fs.Var(&dirs, "config-dir", "A directory of JSON service and check definitions (repeatable).")
	fs.BoolVar(&cfg.Checks.EnableScriptChecks, "enable-script-checks", false, "Allow checks that run commands.")
	fs.DurationVar(&cfg.AntiEntropyInterval, "anti-entropy-interval", cfg.AntiEntropyInterval, "The base period of the full catalog sync.")
	fs.DurationVar(&cfg.Checks.MinInterval, "check-min-interval", cfg.Checks.MinInterval, "The shortest interval a check runs at.")
	fs.DurationVar(&cfg.Checks.MinDeregisterCriticalServiceAfter, "deregister-critical-min", cfg.Checks.MinDeregisterCriticalServiceAfter, "The shortest deregister_critical_service_after honoured.")
	fs.IntVar(&cfg.Checks.MaxConcurrentProbes, "max-concurrent-probes", cfg.Checks.MaxConcurrentProbes, "How many probes run at once.")
	fs.StringVar(&level, "log-level", "info", "Log level: trace, debug, info, warn, error.")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	log, err := c.start(ctx, level)
	if err != nil {
		return err
	}
	cfg.Self, cfg.ConfigFiles, cfg.ConfigDirs, cfg.Logger = self, files, dirs, log
	return health.Run(ctx, cfg)
}

// gatewayGCPercent is the gateway's GOGC unless the environment sets one:
// it allocates per request and keeps little, so collecting at 4x the live
// heap rather than 2x trades a few MiB for a fifth of its CPU under load.
const gatewayGCPercent = 400

func (c *cmd) membership(ctx context.Context, args []string) error {
	cfg := membership.DefaultConfig()
	fs := flag.NewFlagSet("service membership", flag.ContinueOnError)
	var level, gossip, gossipWAN string
	var join, joinWAN strings
	fs.StringVar(&cfg.NodeName, "node", "", "This agent's node name.")
	fs.StringVar(&cfg.NodeID, "node-id", "", "This agent's node ID.")
	fs.StringVar(&cfg.Datacenter, "datacenter", "dc1", "The agent's datacenter.")
	fs.BoolVar(&cfg.Server, "server", false, "Whether this agent is a server (joins the WAN pool).")
	fs.IntVar(&cfg.ServerPort, "server-port", cfg.ServerPort, "The server's Raft port (the port tag).")
	fs.IntVar(&cfg.KVPort, "kv-port", 0, "The server's KV shard Raft port (the kv_port tag); none when 0.")
	fs.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "The servers expected before bootstrapping (the expect tag).")
	fs.StringVar(&cfg.GRPCAddress, "public-grpc-addr", "", "The agent's public gRPC address (the grpc tag).")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "The agent's data directory; gossip snapshots go in DATA-DIR/serf.")
	fs.StringVar(&cfg.LAN.BindAddr, "bind", "127.0.0.1", "The address the gossip pools listen on.")
	fs.StringVar(&cfg.LAN.AdvertiseAddr, "advertise", "", "The LAN address other agents use; -bind by default.")
	fs.IntVar(&cfg.LAN.BindPort, "serf-lan-port", membership.DefaultLANPort, "The LAN gossip port (TCP and UDP).")
	fs.StringVar(&cfg.WAN.AdvertiseAddr, "advertise-wan", "", "The WAN address other datacenters use; -advertise by default.")
	fs.IntVar(&cfg.WAN.BindPort, "serf-wan-port", membership.DefaultWANPort, "The WAN gossip port of a server (TCP and UDP).")
	fs.StringVar(&cfg.EncryptKey, "encrypt", "", "The gossip encryption key (base64, from tribune keygen).")
	fs.Var(&join, "retry-join", "An agent to join at start, retried until it answers (repeatable).")
	fs.Var(&joinWAN, "retry-join-wan", "A server of another datacenter to join over WAN at start (repeatable).")
	fs.DurationVar(&cfg.RetryInterval, "retry-interval", cfg.RetryInterval, "How often -retry-join is tried.")
	fs.BoolVar(&cfg.LeaveOnTerminate, "leave-on-terminate", false, "Leave the pools gracefully when stopped (SIGTERM, SIGINT); otherwise just stop.")
	fs.DurationVar(&cfg.ReconnectTimeout, "reconnect-timeout", cfg.ReconnectTimeout, "How long a failed member is kept before it is reaped.")
	fs.StringVar(&gossip, "gossip", "lan", "Gossip timings: lan (Consul's), small (a small cluster: failures seen in seconds) or loopback (one machine).")
	fs.StringVar(&gossipWAN, "gossip-wan", "wan", "WAN gossip timings of a server: wan (Consul's), small or loopback (the -gossip profiles, for datacenters a LAN apart).")
	fs.StringVar(&cfg.ListenAddress, "grpc-addr", "", "The address of the gRPC API: unix:///path or host:port.")
	fs.StringVar(&level, "log-level", "info", "Log level: trace, debug, info, warn, error.")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	log, err := c.start(ctx, level)
	if err != nil {
		return err
	}
	cfg.WAN.BindAddr = cfg.LAN.BindAddr
	if cfg.WAN.AdvertiseAddr == "" {
		cfg.WAN.AdvertiseAddr = cfg.LAN.AdvertiseAddr
	}
	if cfg.LAN.Gossip, err = gossipProfile("-gossip", "lan", gossip); err != nil {
		return err
	}
	if cfg.WAN.Gossip, err = gossipProfile("-gossip-wan", "wan", gossipWAN); err != nil {
		return err
	}
	cfg.Build = release.Version
	cfg.RetryJoin, cfg.RetryJoinWAN, cfg.Logger = join, joinWAN, log
	return membership.Run(ctx, cfg)
}

// gossipProfile returns the memberlist timings a -gossip or -gossip-wan
// value names: nil (the pool's own defaults, Consul's) for def, or one of
// the membership service's presets.
func gossipProfile(flagName, def, name string) (*memberlist.Config, error) {
	switch name {
	case def:
		return nil, nil
	case "small":
		return membership.SmallClusterGossip(), nil
	case "loopback":
		return membership.LoopbackGossip(), nil
	}
	return nil, fmt.Errorf("%s: %q is not %s, small or loopback", flagName, name, def)
}

func (c *cmd) gateway(ctx context.Context, args []string) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gatewayGCPercent)
	}
	cfg := gateway.DefaultConfig()
	fs := flag.NewFlagSet("service gateway", flag.ContinueOnError)
	var level string
	gatewayFlags(fs, &cfg, &level)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	log, err := c.start(ctx, level)
	if err != nil {
		return err
	}
	cfg.Logger = log
	return gateway.Run(ctx, cfg)
}

// gatewayFlags registers the gateway's flags, with cfg's values as their
// defaults.
func gatewayFlags(fs *flag.FlagSet, cfg *gateway.Config, level *string) {
	fs.StringVar(&cfg.Datacenter, "datacenter", cfg.Datacenter, "The agent's datacenter.")
	fs.StringVar(&cfg.HTTPAddress, "http-addr", cfg.HTTPAddress, "The address of the /v1 HTTP API; empty disables it.")
	fs.StringVar(&cfg.GRPCAddress, "grpc-addr", cfg.GRPCAddress, "The address of the public gRPC API; empty disables it.")
	fs.StringVar(&cfg.KVAddress, "kv-addr", "", "The kv service's gRPC address: unix:///path or host:port.")
	fs.StringVar(&cfg.RegistryAddress, "registry-addr", "", "The registry service's gRPC address: unix:///path or host:port.")
	fs.StringVar(&cfg.HealthAddress, "health-addr", "", "The health service's gRPC address: unix:///path or host:port.")
	fs.StringVar(&cfg.MembershipAddress, "membership-addr", "", "The membership service's gRPC address: unix:///path or host:port.")
	fs.IntVar(&cfg.MaxValueSize, "max-value-size", cfg.MaxValueSize, "The largest KV value accepted, in bytes.")
	command.WriteBatchFlags(fs, &cfg.WriteBatch)
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", cfg.ShutdownGrace, "How long a stop waits for calls in flight.")
	fs.StringVar(level, "log-level", "info", "Log level: trace, debug, info, warn, error.")
}
