// Package membership runs the agent's gossip membership on
// github.com/hashicorp/serf, as Consul does: every agent is in its
// datacenter's LAN pool (port 8301), servers also in the WAN pool of all
// datacenters' servers (port 8302, members named "<node>.<datacenter>").
// Members carry Consul's tags (see package tags) and Tribune's "grpc".
//
// Agent is the pools; Run serves them over gRPC (MembershipService, in
// package server) until its context ends, then leaves gracefully.
package membership

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/lib/retire"
	"github.com/tribune/tribune/lib/rpc"
	"github.com/tribune/tribune/services/membership/server"
	"github.com/tribune/tribune/services/membership/tags"
)

// The default gossip ports, Consul's.
const (
	DefaultLANPort = 8301
	DefaultWANPort = 8302
)

// PoolConfig is the configuration of one gossip pool.
type PoolConfig struct {
	// BindAddr is the IP address the pool listens on (TCP and UDP).
	BindAddr string
	// BindPort is its port; 0 picks a free one (tests).
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other members are told to
	// use; BindAddr (or, for 0.0.0.0, a private address of this host) and
	// BindPort when empty.
	AdvertiseAddr string
	AdvertisePort int
	// Gossip is memberlist's configuration: its timings and limits
	// (ProbeInterval, SuspicionMult, GossipInterval, PushPullInterval,
	// TCPTimeout, ...). Its name, addresses, keys and delegates are set
	// from this Config and Gossip itself is not modified. nil means
	// memberlist.DefaultLANConfig() for the LAN pool and
	// DefaultWANConfig() for the WAN pool, Consul's timings;
	// SmallClusterGossip and LoopbackGossip are faster presets.
	Gossip *memberlist.Config
}

// Config is the membership service's configuration.
type Config struct {
	// NodeName is the agent's node name; in the WAN pool the member is
	// "<NodeName>.<Datacenter>".
	NodeName string
	// NodeID is the agent's node ID (the "id" tag).
	NodeID string
	// Datacenter is the agent's datacenter (the "dc" tag).
	Datacenter string
	// Server makes the agent a server: role "consul" and the WAN pool.
	Server bool
	// ServerPort is a server's RPC port (the "port" tag).
	ServerPort int
	// KVPort is a server's KV shard Raft port (the "kv_port" tag, when not
	// 0).
	KVPort int
	// BootstrapExpect is a server's -bootstrap-expect (the "expect" tag,
	// when not 0); Bootstrap a server's -bootstrap (the "bootstrap" tag).
	BootstrapExpect int
	Bootstrap       bool
	// GRPCAddress is the agent's public gRPC address (the "grpc" tag).
	GRPCAddress string
	// Build is the agent's version (the "build" tag).
	Build string
	// Tags are more tags; the ones above win.
	Tags map[string]string

	// DataDir is the agent's data directory: serf's snapshots go in
	// DataDir/serf/local.snapshot and remote.snapshot, so that a
	// restarted agent rejoins the members it knew. Empty: no snapshots.
	DataDir string
	// RejoinAfterLeave makes an agent that left gracefully rejoin from its
	// snapshot when it starts again (Consul's -rejoin).
	RejoinAfterLeave bool
	// LeaveOnTerminate makes Run leave the pools gracefully when its
	// context ends (the agent got SIGTERM or SIGINT), as Consul's clients
	// do; without it the agent just stops, and the others see it fail, as
	// Consul's servers do (leave_on_terminate and skip_leave_on_interrupt).
	// A server that left is removed from the Raft shards.
	LeaveOnTerminate bool

	LAN PoolConfig
	WAN PoolConfig

	// EncryptKey is the gossip encryption key (-encrypt), base64; empty
	// means no encryption.
	EncryptKey string

	// ReconnectTimeout is how long a failed member is kept (and retried)
	// before it is reaped (Consul: 72h); TombstoneTimeout how long a member
	// that left is remembered (24h).
	ReconnectTimeout time.Duration
	TombstoneTimeout time.Duration
	// ReapInterval is how often failed and left members are checked
	// against those timeouts (serf: 15s).
	ReapInterval time.Duration
	// LeavePropagateDelay is how long a leaving agent keeps answering
	// probes so that its leave spreads before it goes (serf: 1s).
	LeavePropagateDelay time.Duration
	// LeaveTimeout bounds a graceful leave: serf's broadcast timeouts are
	// derived from it.
	LeaveTimeout time.Duration

	// RetryJoin and RetryJoinWAN are addresses Run joins at start,
	// retrying every RetryInterval until one answers (Consul's
	// -retry-join, -retry-join-wan).
	RetryJoin     []string
	RetryJoinWAN  []string
	RetryInterval time.Duration

	// FloodInterval is how often a server checks that every alive server
	// of its datacenter in the LAN pool is in the WAN pool too, and joins
	// those that are not (Consul's flood joins). It also checks at once
	// when a server joins the LAN pool or changes its tags.
	FloodInterval time.Duration

	// WatchBuffer is how many member events a WatchMembers stream may fall
	// behind before it is ended.
	WatchBuffer int

	// ListenAddress is where Run serves the gRPC API: "unix:///path" or
	// "host:port".
	ListenAddress string
	// ShutdownGrace bounds the graceful stop of the gRPC server.
	ShutdownGrace time.Duration

	Logger *slog.Logger
}

// DefaultConfig returns Consul's defaults; NodeName, NodeID and
// ListenAddress must still be set, and ServerPort on a server.
func DefaultConfig() Config {
	return Config{
		Datacenter:          "dc1",
		ServerPort:          8300,
		Build:               "0.0.0-dev",
		LAN:                 PoolConfig{BindAddr: "0.0.0.0", BindPort: DefaultLANPort},
		WAN:                 PoolConfig{BindAddr: "0.0.0.0", BindPort: DefaultWANPort},
		ReconnectTimeout:    72 * time.Hour,
		TombstoneTimeout:    24 * time.Hour,
		ReapInterval:        15 * time.Second,
		LeavePropagateDelay: time.Second,
		LeaveTimeout:        20 * time.Second,
		RetryInterval:       30 * time.Second,
		FloodInterval:       30 * time.Second,
		WatchBuffer:         1024,
		ShutdownGrace:       5 * time.Second,
		Logger:              slog.Default(),
	}
}

// Consul's datacenter names.
var datacenterRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func (p PoolConfig) validate(name string) error {
	if net.ParseIP(p.BindAddr) == nil {
		return fmt.Errorf("%s.BindAddr: %q is not an IP address", name, p.BindAddr)
	}
	if p.AdvertiseAddr != "" && net.ParseIP(p.AdvertiseAddr) == nil {
		return fmt.Errorf("%s.AdvertiseAddr: %q is not an IP address", name, p.AdvertiseAddr)
	}
	if p.BindPort < 0 || p.BindPort > 65535 {
		return fmt.Errorf("%s.BindPort: %d is not a port (0-65535)", name, p.BindPort)
	}
	if p.AdvertisePort < 0 || p.AdvertisePort > 65535 {
		return fmt.Errorf("%s.AdvertisePort: %d is not a port (0-65535)", name, p.AdvertisePort)
	}
	return nil
}

// validateGossip reports a configuration the pools cannot start with.
func (c Config) validateGossip() error {
	if c.NodeName == "" {
		return errors.New("membership: NodeName is required")
	}
	if err := nodeid.Validate(c.NodeID); err != nil {
		return fmt.Errorf("membership: NodeID: %w", err)
	}
	if !datacenterRE.MatchString(c.Datacenter) {
		return fmt.Errorf("membership: Datacenter %q must be letters, digits, '_' and '-'", c.Datacenter)
	}
	if err := c.LAN.validate("membership: LAN"); err != nil {
		return err
	}
	if c.Server {
		if err := c.WAN.validate("membership: WAN"); err != nil {
			return err
		}
		if c.ServerPort < 1 || c.ServerPort > 65535 {
			return fmt.Errorf("membership: ServerPort: %d is not a port (1-65535)", c.ServerPort)
		}
		if c.KVPort < 0 || c.KVPort > 65535 {
			return fmt.Errorf("membership: KVPort: %d is not a port (1-65535, or 0 for none)", c.KVPort)
		}
		if c.BootstrapExpect < 0 {
			return errors.New("membership: BootstrapExpect must not be negative")
		}
		if c.FloodInterval <= 0 {
			return fmt.Errorf("membership: FloodInterval must be positive, got %v", c.FloodInterval)
		}
	} else if len(c.RetryJoinWAN) > 0 {
		return fmt.Errorf("membership: RetryJoinWAN: %v", server.ErrNotServer)
	}
	if c.EncryptKey != "" {
		if _, err := ParseKey(c.EncryptKey); err != nil {
			return fmt.Errorf("membership: %w", err)
		}
	}
	for name, d := range map[string]time.Duration{
		"ReconnectTimeout": c.ReconnectTimeout, "TombstoneTimeout": c.TombstoneTimeout,
		"ReapInterval": c.ReapInterval, "LeaveTimeout": c.LeaveTimeout,
	} {
		if d <= 0 {
			return fmt.Errorf("membership: %s must be positive, got %v", name, d)
		}
	}
	if c.LeavePropagateDelay < 0 {
		return errors.New("membership: LeavePropagateDelay must not be negative")
	}
	if c.LeaveTimeout <= 2*c.LeavePropagateDelay {
		return fmt.Errorf("membership: LeaveTimeout (%v) must be above twice LeavePropagateDelay (%v)", c.LeaveTimeout, c.LeavePropagateDelay)
	}
	if (len(c.RetryJoin) > 0 || len(c.RetryJoinWAN) > 0) && c.RetryInterval <= 0 {
		return errors.New("membership: RetryInterval must be positive")
	}
	if c.WatchBuffer <= 0 {
		return errors.New("membership: WatchBuffer must be positive")
	}
	return nil
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if err := c.validateGossip(); err != nil {
		return err
	}
	if c.ListenAddress == "" {
		return errors.New("membership: ListenAddress is required")
	}
	return nil
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// broadcastTimeout is serf's BroadcastTimeout, at most its default 5s but
// short enough for a whole leave to fit in LeaveTimeout: leaving a pool
// waits twice for a broadcast and then LeavePropagateDelay, and a server
// leaves two pools.
func (c Config) broadcastTimeout() time.Duration {
	pools := time.Duration(1)
	if c.Server {
		pools = 2
	}
	bt := (c.LeaveTimeout - pools*c.LeavePropagateDelay) / (2 * pools)
	return max(min(bt, 5*time.Second), 10*time.Millisecond)
}

// tags returns the member tags of the agent, as Consul's; wanPort is the
// WAN pool's advertised port on a server.
func (c Config) tags(wanPort int) map[string]string {
	t := make(map[string]string, len(c.Tags)+10)
	for k, v := range c.Tags {
		t[k] = v
	}
	t[tags.Role] = tags.RoleClient
	t[tags.Datacenter] = c.Datacenter
	t[tags.ID] = c.NodeID
	t[tags.Version] = tags.ProtocolVersion
	t[tags.VersionMin] = tags.ProtocolVersionMin
	t[tags.VersionMax] = tags.ProtocolVersionMax
	t[tags.Build] = c.Build
	if c.GRPCAddress != "" {
		t[tags.GRPC] = c.GRPCAddress
	}
	if c.Server {
		t[tags.Role] = tags.RoleServer
		t[tags.Port] = strconv.Itoa(c.ServerPort)
		if c.KVPort != 0 {
			t[tags.KVPort] = strconv.Itoa(c.KVPort)
		}
		if c.BootstrapExpect != 0 {
			t[tags.Expect] = strconv.Itoa(c.BootstrapExpect)
		}
		if c.Bootstrap {
			t[tags.Bootstrap] = "1"
		}
		if wanPort > 0 { // 0: the WAN pool's own tags, before it bound a port
			t[tags.WANJoinPort] = strconv.Itoa(wanPort)
		}
		if c.WAN.AdvertiseAddr != "" && c.WAN.AdvertiseAddr != c.LAN.AdvertiseAddr {
			t[tags.WANJoinAddr] = c.WAN.AdvertiseAddr
		}
	}
	return t
}

// Agent is the agent's gossip pools. It is safe for concurrent use.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	lan, wan *serf.Serf
	lanPort  int
	wanPort  int
	lanHub   *hub
	wanHub   *hub
	// flood is signalled when a server of the datacenter joins the LAN
	// pool or changes: the flood loop then checks the WAN pool at once.
	flood chan struct{}

	stop     chan struct{} // closed by Shutdown: ends the event pumps
	wg       sync.WaitGroup
	mu       sync.Mutex // guards shutdown and wg.Add
	shutdown bool
	leaving  bool // a Leave goroutine runs: Shutdown waits for it

	leaveOnce sync.Once
	left      chan struct{} // closed when Leave is done
	leaveErr  error         // written before left is closed

	shutdownOnce sync.Once
	shutdownErr  error
}

var _ server.Agent = (*Agent)(nil)

// Start creates the pools (the WAN pool on servers) and starts gossiping.
// Stop it with Leave and Shutdown.
func Start(cfg Config) (*Agent, error) {
	if err := cfg.validateGossip(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, log: cfg.logger(),
		lanHub: newHub(cfg.WatchBuffer), wanHub: newHub(cfg.WatchBuffer),
		stop: make(chan struct{}), left: make(chan struct{}), flood: make(chan struct{}, 1),
	}
	var key []byte
	if cfg.EncryptKey != "" {
		key, _ = ParseKey(cfg.EncryptKey) // validated above
	}
	snapDir := ""
	if cfg.DataDir != "" {
		snapDir = filepath.Join(cfg.DataDir, "serf")
		if err := os.MkdirAll(snapDir, 0o750); err != nil {
			return nil, fmt.Errorf("membership: snapshot directory: %w", err)
		}
	}
	// The WAN pool first, so that the LAN tags carry the port it bound.
	var err error
	if cfg.Server {
		name := cfg.NodeName + "." + cfg.Datacenter
		a.wan, a.wanPort, err = a.create("wan", name, cfg.WAN, memberlist.DefaultWANConfig, key, snapDir, "remote.snapshot", a.wanHub, nil)
		if err != nil {
			a.Shutdown()
			return nil, err
		}
	}
	a.lan, a.lanPort, err = a.create("lan", cfg.NodeName, cfg.LAN, memberlist.DefaultLANConfig, key, snapDir, "local.snapshot", a.lanHub, a.noticeLANServer)
	if err != nil {
		a.Shutdown()
		return nil, err
	}
	if cfg.Server {
		a.mu.Lock()
		a.wg.Add(1)
		a.mu.Unlock()
		go a.floodLoop()
	}
	a.log.Info("gossip started", "node", cfg.NodeName, "dc", cfg.Datacenter, "server", cfg.Server,
		"lan", a.lan.LocalMember().Addr.String()+":"+strconv.Itoa(int(a.lan.LocalMember().Port)),
		"encrypted", key != nil)
	return a, nil
}

// create starts one serf pool and the pump of its member events to h (and
// to notice, when not nil); it returns the pool and the port it bound.
func (a *Agent) create(pool, name string, pc PoolConfig, defaults func() *memberlist.Config,
	key []byte, snapDir, snapFile string, h *hub, notice func(serf.MemberEvent)) (*serf.Serf, int, error) {
	var ml *memberlist.Config
	if pc.Gossip != nil {
		c := *pc.Gossip
		ml = &c
	} else {
		ml = defaults()
	}
	ml.BindAddr, ml.BindPort = pc.BindAddr, pc.BindPort
	ml.AdvertiseAddr, ml.AdvertisePort = pc.AdvertiseAddr, pc.AdvertisePort
	if ml.AdvertisePort == 0 {
		ml.AdvertisePort = pc.BindPort
	}
	ml.SecretKey, ml.Keyring = key, nil
	if ml.DeadNodeReclaimTime == 0 {
		// A restarted agent with a new address takes its name back after
		// this long (Consul's DeadNodeReclaimTime).
		ml.DeadNodeReclaimTime = 30 * time.Second
	}
	std := newStdLogger(a.log, pool)
	ml.Logger, ml.LogOutput = std, nil

	events := make(chan serf.Event, 1024)
	sc := serf.DefaultConfig()
	sc.NodeName = name
	wanPort := cmp.Or(a.cfg.WAN.AdvertisePort, a.wanPort, a.cfg.WAN.BindPort)
	sc.Tags = a.cfg.tags(wanPort)
	sc.EventCh = events
	sc.MemberlistConfig = ml
	sc.Logger, sc.LogOutput = std, nil
	sc.ReconnectTimeout = a.cfg.ReconnectTimeout
	sc.TombstoneTimeout = a.cfg.TombstoneTimeout
	sc.ReapInterval = a.cfg.ReapInterval
	sc.LeavePropagateDelay = a.cfg.LeavePropagateDelay
	sc.BroadcastTimeout = a.cfg.broadcastTimeout()
	sc.RejoinAfterLeave = a.cfg.RejoinAfterLeave
	if snapDir != "" {
		sc.SnapshotPath = filepath.Join(snapDir, snapFile)
	}
	s, err := serf.Create(sc)
	if err != nil {
		return nil, 0, fmt.Errorf("membership: start the %s pool on %s: %w", pool,
			net.JoinHostPort(pc.BindAddr, strconv.Itoa(pc.BindPort)), err)
	}
	a.mu.Lock()
	a.wg.Add(1)
	a.mu.Unlock()
	go a.pump(events, h, notice)
	// memberlist wrote the port it bound (for BindPort 0) into ml.
	return s, ml.BindPort, nil
}

// pump hands the pool's member events to h, and to notice when not nil,
// until Shutdown. It never blocks serf for long: the hub drops
// subscribers that fall behind, and notice must not block.
func (a *Agent) pump(events <-chan serf.Event, h *hub, notice func(serf.MemberEvent)) {
	defer a.wg.Done()
	for {
		select {
		case <-a.stop:
			return
		case ev := <-events:
			if me, ok := ev.(serf.MemberEvent); ok {
				h.publish(me)
				if notice != nil {
					notice(me)
				}
			}
		}
	}
}

// LAN returns the LAN pool.
func (a *Agent) LAN() *serf.Serf { return a.lan }

// WAN returns the WAN pool, nil on a client agent.
func (a *Agent) WAN() *serf.Serf { return a.wan }

// Pool returns the LAN or the WAN pool; ok is false for the WAN pool of a
// client.
func (a *Agent) Pool(wan bool) (server.Pool, bool) {
	if !wan {
		return a.lan, true
	}
	if a.wan == nil {
		return nil, false
	}
	return a.wan, true
}

// DefaultPort is the port the pool bound, which a join address without a
// port gets (as memberlist does).
func (a *Agent) DefaultPort(wan bool) int {
	if wan {
		return a.wanPort
	}
	return a.lanPort
}

// Datacenter is the agent's datacenter.
func (a *Agent) Datacenter() string { return a.cfg.Datacenter }

// Subscribe streams the pool's member events from now on.
func (a *Agent) Subscribe(wan bool) (server.Subscription, error) {
	if wan {
		if a.wan == nil {
			return nil, server.ErrNotServer
		}
		return a.wanHub.subscribe()
	}
	return a.lanHub.subscribe()
}

// Leave leaves the pools gracefully, the WAN pool first as Consul does;
// the other members see this agent as left, not failed. It returns when
// done or when ctx ends (the leave goes on, bounded by LeaveTimeout). The
// pools cannot be used again: Shutdown must come next, and until it does
// the others may still see this agent as leaving.
func (a *Agent) Leave(ctx context.Context) error {
	a.leaveOnce.Do(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.shutdown {
			a.leaveErr = ErrShutdown
			close(a.left)
			return
		}
		a.leaving = true
		// A server that leaves while others are there is removed from the
		// Raft shards: note it, so that it comes back as a new server.
		retireData := a.cfg.Server && a.cfg.DataDir != "" && a.otherServersAlive()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			var errs []error
			if a.wan != nil {
				if err := a.wan.Leave(); err != nil {
					errs = append(errs, fmt.Errorf("membership: leave the WAN pool: %w", err))
				} else {
					a.pushLeft(a.wan, "wan")
				}
			}
			if err := a.lan.Leave(); err != nil {
				errs = append(errs, fmt.Errorf("membership: leave the LAN pool: %w", err))
			} else {
				a.pushLeft(a.lan, "lan")
			}
			if retireData && len(errs) == 0 {
				if err := retire.MarkLeft(a.cfg.DataDir); err != nil {
					errs = append(errs, err)
				} else {
					a.log.Info("this server left its cluster: the other servers remove it from the Raft shards, and it joins again as a new server when it starts next")
				}
			}
			a.leaveErr = errors.Join(errs...)
			a.log.Info("left the gossip pools", "err", a.leaveErr)
			close(a.left)
		}()
	})
	select {
	case <-a.left:
		return a.leaveErr
	case <-ctx.Done():
		return fmt.Errorf("membership: leave: %w", ctx.Err())
	}
}

// leavePushPeers is how many alive members pushLeft tells.
const leavePushPeers = 3

// pushLeft tells up to leavePushPeers alive members of pool, over
// memberlist's TCP state exchange, that this agent has left. serf
// announces a leave by UDP gossip alone, and in a pool with few other
// members one lost or late packet leaves the agent "failed" until it is
// reaped (-reconnect-timeout, 72h): its node stays in the catalog with a
// critical serfHealth. The state exchange lists this agent among the left
// members, which a peer applies as a leave intent, so a peer that had
// marked it failed marks it left. The pushes run in parallel, each bounded
// by the pool's TCPTimeout.
func (a *Agent) pushLeft(pool *serf.Serf, name string) {
	self := pool.LocalMember().Name
	var addrs []string
	for _, m := range pool.Members() { // map order: a random choice
		if m.Name == self || m.Status != serf.StatusAlive {
			continue
		}
		addrs = append(addrs, net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))))
		if len(addrs) == leavePushPeers {
			break
		}
	}
	var wg sync.WaitGroup
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := pool.Memberlist().Join([]string{addr}); err != nil {
				a.log.Debug("could not push the leave to a member", "pool", name, "addr", addr, "err", err)
			}
		}()
	}
	wg.Wait()
}

// otherServersAlive reports whether the LAN pool has an alive server of
// this datacenter besides this agent.
func (a *Agent) otherServersAlive() bool {
	self := a.lan.LocalMember().Name
	for _, m := range a.lan.Members() {
		if m.Name != self && m.Status == serf.StatusAlive && tags.IsServer(m) && m.Tags[tags.Datacenter] == a.cfg.Datacenter {
			return true
		}
	}
	return false
}

// Left is closed once a Leave is done.
func (a *Agent) Left() <-chan struct{} { return a.left }

// Shutdown stops the pools (other members will see this agent fail
// unless it left first), ends the watchers and waits for the agent's
// goroutines. A Leave under way is let finish first (memberlist must not
// be shut down under it), which LeaveTimeout bounds. Calling it again is
// fine.
func (a *Agent) Shutdown() error {
	a.shutdownOnce.Do(func() {
		a.mu.Lock()
		a.shutdown = true
		leaving := a.leaving
		a.mu.Unlock()
		if leaving {
			<-a.left
		}
		var errs []error
		for _, s := range []*serf.Serf{a.wan, a.lan} {
			if s != nil {
				if err := s.Shutdown(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		close(a.stop)
		a.wg.Wait()
		a.lanHub.close()
		a.wanHub.close()
		a.shutdownErr = errors.Join(errs...)
	})
	return a.shutdownErr
}

// retryJoin joins addrs, retrying every interval until one answers or ctx
// ends (Consul's -retry-join).
func (a *Agent) retryJoin(ctx context.Context, wan bool, addrs []string) {
	pool := "LAN"
	if wan {
		pool = "WAN"
	}
	p, ok := a.Pool(wan)
	if !ok {
		return
	}
	norm := make([]string, 0, len(addrs))
	for _, addr := range addrs {
		n, err := server.NormalizeAddress(addr, a.DefaultPort(wan))
		if err != nil {
			a.log.Error("retry-join: skipping an address", "pool", pool, "err", err)
			continue
		}
		norm = append(norm, n)
	}
	if len(norm) == 0 {
		return
	}
	// Agents started together often try before the others listen: retry
	// soon at first, backing off to RetryInterval.
	wait := min(time.Second, a.cfg.RetryInterval)
	for {
		n, err := p.Join(norm, true)
		if n > 0 {
			a.log.Info("retry-join: joined", "pool", pool, "agents", n)
			return
		}
		a.log.Warn("retry-join: no agent answered; retrying", "pool", pool, "addresses", norm, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
			wait = min(2*wait, a.cfg.RetryInterval)
		}
	}
}

// Run starts the pools, joins RetryJoin and RetryJoinWAN, and serves
// MembershipService on ListenAddress until ctx ends or a Leave call is
// done. When ctx ends it leaves gracefully first if LeaveOnTerminate is
// set (bounded by LeaveTimeout); then it shuts the pools down and stops the
// gRPC server.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.logger()
	a, err := Start(cfg)
	if err != nil {
		return err
	}
	defer a.Shutdown()
	srv, err := server.New(a)
	if err != nil {
		return err
	}
	g := rpc.NewServer()
	srv.AddTo(g)
	l, err := rpc.Listen(cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("membership: listen on %s: %w", cfg.ListenAddress, err)
	}

	// serveCtx ends once the pools are shut down, so that watchers have
	// ended and the gRPC server stops quickly.
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	served := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(served)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stopServing()
		select {
		case <-served:
			return
		case <-a.Left():
		case <-ctx.Done():
			if !cfg.LeaveOnTerminate {
				log.Info("stopping without leaving the pools")
				break
			}
			lctx, cancel := context.WithTimeout(context.Background(), cfg.LeaveTimeout)
			if err := a.Leave(lctx); err != nil {
				log.Warn("graceful leave failed; shutting down", "err", err)
			}
			cancel()
		}
		if err := a.Shutdown(); err != nil {
			log.Warn("gossip shutdown", "err", err)
		}
	}()
	for _, j := range []struct {
		wan   bool
		addrs []string
	}{{false, cfg.RetryJoin}, {true, cfg.RetryJoinWAN}} {
		if len(j.addrs) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.retryJoin(serveCtx, j.wan, j.addrs)
		}()
	}
	log.Info("membership service started", "grpc", cfg.ListenAddress)
	return rpc.Serve(serveCtx, g, l, cfg.ShutdownGrace)
}
