// Package agent implements `tribune agent`: it starts the agent's services
// as child processes of this binary (`tribune service NAME ...`) and
// supervises them, with Consul's flags.
package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
	"github.com/tribune/tribune/cmd/tribune/internal/supervisor"
	"github.com/tribune/tribune/lib/batch"
	"github.com/tribune/tribune/lib/logging"
	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/lib/retire"
)

type cmd struct{ io command.IO }

// New returns the agent command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Runs a Tribune agent" }

// flags are the agent's options, under Consul's names.
type flags struct {
	dev             bool
	server          bool
	bootstrapExpect int
	dataDir         string
	node            string
	datacenter      string
	bind            string
	advertise       string
	client          string
	httpPort        int
	grpcPort        int
	serverPort      int
	kvPort          int
	logLevel        string
	maxValueSize    int
	writeBatch      batch.Config
	tombstoneTTL    time.Duration
	raftRTT         time.Duration
	stopTimeout     time.Duration
	pprofPort       int

	serfLANPort  int
	serfWANPort  int
	join         multi
	joinWAN      multi
	encrypt      string
	gossip       string
	gossipWAN    string
	advertiseWAN string
	reconnect    time.Duration
	// leaveOnTerm: leave the pools on SIGTERM and SIGINT; by default
	// clients do and servers do not, as in Consul.
	leaveOnTerm optBool

	configFiles        multi
	configDirs         multi
	enableScriptChecks bool
	antiEntropy        time.Duration
	checkMinInterval   time.Duration
	deregisterMin      time.Duration
}

// optBool is a boolean flag that knows whether it was given.
type optBool struct{ set, v bool }

func (o *optBool) String() string   { return strconv.FormatBool(o.v) }
func (o *optBool) IsBoolFlag() bool { return true }
func (o *optBool) Set(v string) error {
	b, err := strconv.ParseBool(v)
	o.set, o.v = true, b
	return err
}

// or returns the flag's value, or def when it was not given.
func (o optBool) or(def bool) bool {
	if o.set {
		return o.v
	}
	return def
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return fmt.Sprint(*m) }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func (f *flags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.dev, "dev", false, "Development mode: a single server on 127.0.0.1 that bootstraps alone; data in a temporary directory unless -data-dir is given.")
	fs.BoolVar(&f.server, "server", false, "Run as a server: hold a replica of the datacenter's Raft shards.")
	fs.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "The number of servers to wait for before bootstrapping the cluster.")
	fs.StringVar(&f.dataDir, "data-dir", "", "The directory of the agent's state.")
	fs.StringVar(&f.node, "node", "", "The node's name; the host name by default.")
	fs.StringVar(&f.datacenter, "datacenter", "dc1", "The agent's datacenter.")
	fs.StringVar(&f.bind, "bind", "", "The address gossip and Raft listen on; 127.0.0.1 by default. 0.0.0.0 listens on every address (a server on a LAN and a WAN network) and needs -advertise, on which Raft then listens.")
	fs.StringVar(&f.advertise, "advertise", "", "The address advertised to other agents and in the catalog; -bind by default.")
	fs.StringVar(&f.client, "client", "127.0.0.1", "The address the HTTP and gRPC APIs listen on.")
	fs.IntVar(&f.httpPort, "http-port", 8500, "The HTTP API's port.")
	fs.IntVar(&f.grpcPort, "grpc-port", 8502, "The public gRPC API's port.")
	fs.IntVar(&f.serverPort, "server-port", 8300, "The registry shard's Raft port (the catalog service); /v1/status reports it.")
	fs.IntVar(&f.kvPort, "kv-port", 8303, "The KV shard's Raft port.")
	fs.StringVar(&f.logLevel, "log-level", "info", "Log level: trace, debug, info, warn, error.")
	fs.IntVar(&f.maxValueSize, "kv-max-value-size", 512<<10, "The largest KV value accepted, in bytes.")
	f.writeBatch = batch.DefaultConfig()
	command.WriteBatchFlags(fs, &f.writeBatch)
	fs.DurationVar(&f.tombstoneTTL, "kv-tombstone-ttl", 15*time.Minute, "How long a deleted key's tombstone is kept, so that blocking queries see the deletion, before it is reaped (Consul: 15m).")
	fs.DurationVar(&f.raftRTT, "raft-rtt", 20*time.Millisecond, "The Raft tick: the expected round trip between servers.")
	fs.IntVar(&f.pprofPort, "pprof-port", 0, "Serve Go's profiler from each service on -client: gateway on this port, registry +1, kv +2, health +3, membership +4; off when 0.")
	fs.IntVar(&f.serfLANPort, "serf-lan-port", 8301, "The LAN gossip port (TCP and UDP).")
	fs.IntVar(&f.serfWANPort, "serf-wan-port", 8302, "The WAN gossip port of a server (TCP and UDP).")
	fs.Var(&f.join, "join", "An agent to join at start (repeatable); retried until it answers, like -retry-join.")
	fs.Var(&f.join, "retry-join", "An agent to join at start, retried until it answers (repeatable).")
	fs.Var(&f.joinWAN, "join-wan", "A server of another datacenter to join over WAN at start (repeatable).")
	fs.Var(&f.joinWAN, "retry-join-wan", "As -join-wan, retried until it answers (repeatable).")
	fs.StringVar(&f.encrypt, "encrypt", "", "The gossip encryption key (base64; see tribune keygen).")
	fs.Var(&f.leaveOnTerm, "leave-on-terminate", "Leave the gossip pools gracefully on SIGTERM or SIGINT (true for clients, false for servers by default, as in Consul): a server that leaves is removed from the Raft shards.")
	fs.DurationVar(&f.reconnect, "reconnect-timeout", 72*time.Hour, "How long a failed agent is kept, and retried, before it is reaped from the pool and the catalog (Consul's reconnect_timeout).")
	fs.StringVar(&f.advertiseWAN, "advertise-wan", "", "The address other datacenters use for this server; -advertise by default.")
	fs.StringVar(&f.gossip, "gossip", "lan", "Gossip timings: lan (Consul's), small (failures seen in seconds) or loopback (one machine; the default with -dev).")
	fs.StringVar(&f.gossipWAN, "gossip-wan", "wan", "WAN gossip timings of a server: wan (Consul's: a datacenter cut off is seen in a minute or two), small or loopback (the -gossip profiles, for datacenters on one LAN or machine).")
	fs.Var(&f.configFiles, "config-file", "A JSON file of service and check definitions (repeatable); reloaded on SIGHUP and `tribune reload`.")
	fs.Var(&f.configDirs, "config-dir", "A directory of JSON service and check definitions (repeatable).")
	fs.BoolVar(&f.enableScriptChecks, "enable-script-checks", false, "Allow checks that run commands (args).")
	fs.DurationVar(&f.antiEntropy, "anti-entropy-interval", time.Minute, "The base period of the full sync of this agent's services and checks to the catalog.")
	fs.DurationVar(&f.checkMinInterval, "check-min-interval", time.Second, "The shortest interval a check runs at (Consul: 1s).")
	fs.DurationVar(&f.deregisterMin, "deregister-critical-min", time.Minute, "The shortest deregister_critical_service_after honoured (Consul: 1m).")
	fs.DurationVar(&f.stopTimeout, "stop-timeout", 10*time.Second, "How long each service has to stop before it is killed.")
}

// validateWriteBatch reports a write batch bound that is not positive,
// under its flag's name.
func validateWriteBatch(b batch.Config) error {
	for _, v := range []struct {
		name string
		n    int
	}{
		{"-write-batch-max-inflight", b.MaxInFlight},
		{"-write-batch-max-items", b.MaxItems},
		{"-write-batch-max-bytes", b.MaxBytes},
	} {
		if v.n < 1 {
			return fmt.Errorf("%s: must be positive, got %d", v.name, v.n)
		}
	}
	return nil
}

func (f *flags) validate() error {
	for name, p := range map[string]int{"-http-port": f.httpPort, "-grpc-port": f.grpcPort, "-server-port": f.serverPort,
		"-kv-port": f.kvPort, "-serf-lan-port": f.serfLANPort, "-serf-wan-port": f.serfWANPort} {
		if p < 1 || p > 65535 {
			return fmt.Errorf("%s: %d is not a port (1-65535)", name, p)
		}
	}
	if net.ParseIP(f.client) == nil {
		return fmt.Errorf("-client: %q is not an IP address", f.client)
	}
	if f.bind != "" && net.ParseIP(f.bind) == nil {
		return fmt.Errorf("-bind: %q is not an IP address", f.bind)
	}
	if f.advertise != "" && net.ParseIP(f.advertise) == nil {
		return fmt.Errorf("-advertise: %q is not an IP address", f.advertise)
	}
	if ip := net.ParseIP(f.bind); ip != nil && ip.IsUnspecified() && (f.advertise == "" || net.ParseIP(f.advertise).IsUnspecified()) {
		return fmt.Errorf("-bind %s needs -advertise: the address other agents reach this one on", f.bind)
	}
	if f.bootstrapExpect < 0 {
		return fmt.Errorf("-bootstrap-expect: must not be negative")
	}
	if _, err := logging.ParseLevel(f.logLevel); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	if f.maxValueSize <= 0 {
		return fmt.Errorf("-kv-max-value-size: must be positive")
	}
	if f.tombstoneTTL <= 0 {
		return fmt.Errorf("-kv-tombstone-ttl: must be positive")
	}
	if err := validateWriteBatch(f.writeBatch); err != nil {
		return err
	}
	if f.dev {
		return nil
	}
	switch {
	case f.dataDir == "":
		return errors.New("Must specify data directory using -data-dir")
	case !f.server && f.bootstrapExpect > 0:
		return errors.New("-bootstrap-expect is for servers: add -server")
	case !f.server:
		return nil // a client agent
	case f.bootstrapExpect == 0:
		return errors.New("a server needs -bootstrap-expect N (1 bootstraps alone; N > 1 waits for N servers) or -dev in this build")
	}
	return nil
}

func (c *cmd) Run(ctx context.Context, args []string) int {
	var f flags
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(c.io.Err)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.io.Err, "==> Unexpected arguments: %v\n", fs.Args())
		return 1
	}
	if err := f.validate(); err != nil {
		fmt.Fprintf(c.io.Err, "==> %v\n", err)
		return 1
	}
	if err := c.run(ctx, f); err != nil {
		fmt.Fprintf(c.io.Err, "==> %v\n", err)
		return 1
	}
	return 0
}

func (c *cmd) run(ctx context.Context, f flags) error {
	if f.dev {
		f.server = true
		f.bootstrapExpect = 1
		if f.bind == "" {
			f.bind = "127.0.0.1"
		}
		if f.dataDir == "" {
			dir, err := os.MkdirTemp("", "tribune-dev-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			f.dataDir = dir
		}
	}
	if f.bind == "" {
		f.bind = "127.0.0.1"
	}
	dataDir, err := filepath.Abs(f.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if f.server {
		// A server that left its cluster comes back as a new one.
		retired, err := retire.LeftData(dataDir, "registry", "kv")
		if err != nil {
			return err
		}
		if retired {
			fmt.Fprintf(c.io.Out, "==> This server left its cluster: its Raft data is now in %s and %s, and it joins as a new server with a new node ID.\n",
				filepath.Join(dataDir, "registry.left"), filepath.Join(dataDir, "kv.left"))
		}
	}
	id, err := nodeid.LoadOrCreate(dataDir)
	if err != nil {
		return err
	}
	if f.node == "" {
		if f.node, err = os.Hostname(); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if f.advertise == "" {
		f.advertise = f.bind
	}
	// Raft listens on -bind and names each replica by its address: on a
	// host bound to every address (a server on a LAN and a WAN network),
	// that is the advertised one.
	raftHost := f.bind
	if net.ParseIP(f.bind).IsUnspecified() {
		raftHost = f.advertise
	}
	kvSock := socketPath(dataDir, "kv.sock")
	registrySock := socketPath(dataDir, "registry.sock")
	memberSock := socketPath(dataDir, "membership.sock")
	registryArgs := []string{"service", "registry",
		"-membership-addr", "unix://" + memberSock,
		"-node-id", id,
		"-data-dir", dataDir,
		"-raft-addr", net.JoinHostPort(raftHost, strconv.Itoa(f.serverPort)),
		"-grpc-addr", "unix://" + registrySock,
		"-datacenter", f.datacenter,
		"-node", f.node,
		"-advertise", f.advertise,
		"-server-port", strconv.Itoa(f.serverPort),
		"-raft-rtt", f.raftRTT.String(),
		"-log-level", f.logLevel,
	}
	raftAddr := net.JoinHostPort(raftHost, strconv.Itoa(f.kvPort))
	kvArgs := []string{"service", "kv",
		"-node-id", id,
		"-data-dir", dataDir,
		"-raft-addr", raftAddr,
		"-grpc-addr", "unix://" + kvSock,
		"-membership-addr", "unix://" + memberSock,
		"-datacenter", f.datacenter,
		"-max-value-size", strconv.Itoa(f.maxValueSize),
		"-tombstone-ttl", f.tombstoneTTL.String(),
		"-tombstone-gc-interval", min(30*time.Second, max(f.tombstoneTTL/10, 10*time.Millisecond)).String(),
		"-raft-rtt", f.raftRTT.String(),
		"-log-level", f.logLevel,
	}
	switch {
	case f.bootstrapExpect == 1:
		kvArgs = append(kvArgs, "-bootstrap")
		registryArgs = append(registryArgs, "-bootstrap")
	case f.bootstrapExpect > 1:
		// Both shards wait for the same servers in the gossip pool and
		// bootstrap together; see replica.Plan.
		n := strconv.Itoa(f.bootstrapExpect)
		kvArgs = append(kvArgs, "-bootstrap-expect", n)
		registryArgs = append(registryArgs, "-bootstrap-expect", n)
	}
	gossip := f.gossip
	if f.dev && gossip == "lan" {
		gossip = "loopback"
	}
	memberArgs := []string{"service", "membership",
		"-node", f.node,
		"-node-id", id,
		"-datacenter", f.datacenter,
		"-server-port", strconv.Itoa(f.serverPort),
		"-kv-port", strconv.Itoa(f.kvPort),
		"-bootstrap-expect", strconv.Itoa(f.bootstrapExpect),
		"-public-grpc-addr", net.JoinHostPort(f.client, strconv.Itoa(f.grpcPort)),
		"-data-dir", dataDir,
		"-bind", f.bind,
		"-advertise", f.advertise,
		"-serf-lan-port", strconv.Itoa(f.serfLANPort),
		"-serf-wan-port", strconv.Itoa(f.serfWANPort),
		"-gossip", gossip,
		"-gossip-wan", f.gossipWAN,
		"-reconnect-timeout", f.reconnect.String(),
		"-grpc-addr", "unix://" + memberSock,
		"-log-level", f.logLevel,
	}
	if f.server {
		memberArgs = append(memberArgs, "-server")
	}
	if f.leaveOnTerm.or(!f.server) {
		memberArgs = append(memberArgs, "-leave-on-terminate")
	}
	if f.encrypt != "" {
		memberArgs = append(memberArgs, "-encrypt", f.encrypt)
	}
	if f.advertiseWAN != "" {
		memberArgs = append(memberArgs, "-advertise-wan", f.advertiseWAN)
	}
	for _, a := range f.join {
		memberArgs = append(memberArgs, "-retry-join", a)
	}
	for _, a := range f.joinWAN {
		memberArgs = append(memberArgs, "-retry-join-wan", a)
	}
	healthSock := socketPath(dataDir, "health.sock")
	healthArgs := []string{"service", "health",
		"-node", f.node,
		"-node-id", id,
		"-datacenter", f.datacenter,
		"-advertise", f.advertise,
		"-data-dir", dataDir,
		"-grpc-addr", "unix://" + healthSock,
		"-registry-addr", "unix://" + registrySock,
		"-anti-entropy-interval", f.antiEntropy.String(),
		"-check-min-interval", f.checkMinInterval.String(),
		"-deregister-critical-min", f.deregisterMin.String(),
		"-log-level", f.logLevel,
	}
	if f.server {
		healthArgs = append(healthArgs, "-server")
	}
	if f.enableScriptChecks {
		healthArgs = append(healthArgs, "-enable-script-checks")
	}
	for _, p := range f.configFiles {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		healthArgs = append(healthArgs, "-config-file", abs)
	}
	for _, p := range f.configDirs {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		healthArgs = append(healthArgs, "-config-dir", abs)
	}
	gwArgs := gatewayArgs(f, healthSock, memberSock)
	if f.server {
		gwArgs = append(gwArgs, "-kv-addr", "unix://"+kvSock, "-registry-addr", "unix://"+registrySock)
	} else {
		// A client agent holds no data: its health service reaches the
		// catalog through its own gateway, which forwards to a server.
		healthArgs = replaceFlag(healthArgs, "-registry-addr", loopback(f.client, f.grpcPort))
	}
	if f.pprofPort > 0 {
		for i, args := range []*[]string{&gwArgs, &registryArgs, &kvArgs, &healthArgs, &memberArgs} {
			*args = append(*args, "-pprof-addr", net.JoinHostPort(f.client, strconv.Itoa(f.pprofPort+i)))
		}
	}
	level, _ := logging.ParseLevel(f.logLevel)
	log := logging.New(c.io.Err, level)
	cfg := supervisor.DefaultConfig()
	// A graceful leave (tribune leave) ends the membership service and, as
	// in Consul, the agent.
	cfg.Children = []supervisor.Child{{Name: "membership", Path: self, Args: memberArgs, StopAllOnCleanExit: true}}
	if f.server {
		cfg.Children = append(cfg.Children,
			supervisor.Child{Name: "registry", Path: self, Args: registryArgs},
			supervisor.Child{Name: "kv", Path: self, Args: kvArgs})
	}
	cfg.Children = append(cfg.Children,
		supervisor.Child{Name: "health", Path: self, Args: healthArgs},
		supervisor.Child{Name: "gateway", Path: self, Args: gwArgs})
	cfg.StopTimeout = f.stopTimeout
	cfg.Forward = map[os.Signal][]string{syscall.SIGHUP: {"health"}}
	cfg.Output = c.io.Err
	cfg.Logger = log
	fmt.Fprintf(c.io.Out, "==> Starting Tribune agent...\n")
	fmt.Fprintf(c.io.Out, "           Node name: '%s'\n", f.node)
	fmt.Fprintf(c.io.Out, "             Node ID: '%s'\n", id)
	fmt.Fprintf(c.io.Out, "          Datacenter: '%s'\n", f.datacenter)
	fmt.Fprintf(c.io.Out, "              Server: %t (Bootstrap: %t)\n", f.server, f.bootstrapExpect == 1)
	fmt.Fprintf(c.io.Out, "         Client Addr: [%s] (HTTP: %d, gRPC: %d)\n", f.client, f.httpPort, f.grpcPort)
	fmt.Fprintf(c.io.Out, "        Cluster Addr: %s (Raft: registry %d, KV %d)\n", f.advertise, f.serverPort, f.kvPort)
	fmt.Fprintf(c.io.Out, "            Data Dir: %s\n", dataDir)
	fmt.Fprintf(c.io.Out, "\n==> Log data will now stream in as it occurs:\n\n")
	err = supervisor.Run(ctx, cfg)
	log.Info("agent stopped")
	return err
}

// gatewayArgs returns the gateway child's arguments, but for the kv and
// registry addresses, which only a server has.
func gatewayArgs(f flags, healthSock, memberSock string) []string {
	return []string{"service", "gateway",
		"-datacenter", f.datacenter,
		"-http-addr", net.JoinHostPort(f.client, strconv.Itoa(f.httpPort)),
		"-grpc-addr", net.JoinHostPort(f.client, strconv.Itoa(f.grpcPort)),
		"-health-addr", "unix://" + healthSock,
		"-membership-addr", "unix://" + memberSock,
		"-max-value-size", strconv.Itoa(f.maxValueSize),
		"-write-batch-max-inflight", strconv.Itoa(f.writeBatch.MaxInFlight),
		"-write-batch-max-items", strconv.Itoa(f.writeBatch.MaxItems),
		"-write-batch-max-bytes", strconv.Itoa(f.writeBatch.MaxBytes),
		"-log-level", f.logLevel,
	}
}

// replaceFlag sets the value of flag in args.
func replaceFlag(args []string, flag, value string) []string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			args[i+1] = value
		}
	}
	return args
}

// loopback is the address to dial this agent's own listener on host:port:
// 127.0.0.1 when it listens on every address.
func loopback(host string, port int) string {
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// socketPath returns a unix socket path in dir, or, when that path is over
// the kernel's limit (108 bytes), one in the temporary directory named by
// a hash of dir.
func socketPath(dir, name string) string {
	p := filepath.Join(dir, name)
	if len(p) < 100 {
		return p
	}
	sum := sha256.Sum256([]byte(dir))
	short := filepath.Join(os.TempDir(), "tribune-"+hex.EncodeToString(sum[:6]))
	_ = os.MkdirAll(short, 0o700)
	return filepath.Join(short, name)
}
