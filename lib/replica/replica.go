// Package replica runs one Dragonboat shard replica in its own NodeHost:
// the configuration the services share, the start (bootstrap, restart or
// join), proposals and reads with deadlines, and the translation of
// Dragonboat's errors into this package's sentinels and gRPC codes.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// Config describes one replica of one shard.
type Config struct {
	// ShardID names the shard (registry 1, kv 2).
	ShardID uint64
	// ReplicaID is this server's replica ID, derived from its node ID.
	ReplicaID uint64
	// Dir holds the NodeHost's Raft log and snapshots.
	Dir string
	// RaftAddress is the host:port this replica's Raft transport listens on
	// and that its peers dial.
	RaftAddress string
	// InitialMembers maps replica IDs to Raft addresses for a bootstrap. It
	// is ignored when the replica has Raft data already, and must be empty
	// with Join.
	InitialMembers map[uint64]string
	// Join starts a replica that an existing shard's leader has added.
	Join bool

	// RTT is the Raft tick: the expected round trip between servers.
	RTT time.Duration
	// ElectionTicks and HeartbeatTicks count ticks (RTTs).
	ElectionTicks  uint64
	HeartbeatTicks uint64
	// SnapshotEntries takes a snapshot every so many applied entries;
	// CompactionOverhead is how many entries are kept behind it in the log
	// for followers that lag a little.
	SnapshotEntries    uint64
	CompactionOverhead uint64
	// MaxInMemLogSize bounds the log entries held in memory before the
	// shard refuses proposals with ErrBusy (0: unbounded).
	MaxInMemLogSize uint64
	// Timeout is the deadline given to a proposal or read whose context has
	// none.
	Timeout time.Duration
	// HoldTimeout is how long a proposal or read that found no leader is
	// retried before it fails with ErrNoLeader, so that an election is a
	// pause for clients rather than an error (Consul's rpc_hold_timeout).
	HoldTimeout time.Duration

	Logger *slog.Logger
}

// DefaultConfig returns the settings for a shard on a LAN: a 20 ms tick,
// elections after 400 ms without a heartbeat, a snapshot every 10,000
// entries keeping 5,000 behind it.
func DefaultConfig() Config {
	return Config{
		RTT:                20 * time.Millisecond,
		ElectionTicks:      20, // 400 ms: a few lost heartbeats, not one.
		HeartbeatTicks:     2,  // 40 ms
		SnapshotEntries:    10000,
		CompactionOverhead: 5000,
		MaxInMemLogSize:    256 << 20,
		Timeout:            10 * time.Second,
		HoldTimeout:        7 * time.Second,
		Logger:             slog.Default(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.ShardID == 0:
		return errors.New("replica: ShardID must not be 0")
	case c.ReplicaID == 0:
		return errors.New("replica: ReplicaID must not be 0")
	case c.Dir == "":
		return errors.New("replica: Dir is required")
	case c.RaftAddress == "":
		return errors.New("replica: RaftAddress is required")
	case c.Join && len(c.InitialMembers) > 0:
		return errors.New("replica: a joining replica takes no InitialMembers")
	case c.RTT < time.Millisecond:
		return fmt.Errorf("replica: RTT must be at least 1ms, got %v", c.RTT)
	case c.HeartbeatTicks == 0 || c.ElectionTicks < 5*c.HeartbeatTicks:
		return fmt.Errorf("replica: ElectionTicks (%d) must be at least 5 times HeartbeatTicks (%d)", c.ElectionTicks, c.HeartbeatTicks)
	case c.Timeout <= 0:
		return fmt.Errorf("replica: Timeout must be positive, got %v", c.Timeout)
	case c.HoldTimeout < 0:
		return fmt.Errorf("replica: HoldTimeout must not be negative, got %v", c.HoldTimeout)
	}
	return nil
}

// Replica is a running shard replica.
type Replica struct {
	cfg       Config
	nh        *dragonboat.NodeHost
	closeOnce sync.Once
}

// Start opens the NodeHost in cfg.Dir and starts the replica with the
// state machine that create returns. A replica with Raft data restarts from
// it; otherwise it bootstraps with cfg.InitialMembers or joins.
func Start(cfg Config, create sm.CreateConcurrentStateMachineFunc) (*Replica, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	installLogger(cfg.Logger)
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	nhc := config.NodeHostConfig{
		NodeHostDir:    cfg.Dir,
		WALDir:         filepath.Join(cfg.Dir, "wal"),
		RTTMillisecond: uint64(cfg.RTT / time.Millisecond),
		RaftAddress:    cfg.RaftAddress,
	}
	nhc.Expert.LogDB = config.GetTinyMemLogDBConfig()
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		return nil, fmt.Errorf("replica: open NodeHost in %s: %w", cfg.Dir, err)
	}
	rc := config.Config{
		ShardID:            cfg.ShardID,
		ReplicaID:          cfg.ReplicaID,
		ElectionRTT:        cfg.ElectionTicks,
		HeartbeatRTT:       cfg.HeartbeatTicks,
		CheckQuorum:        true,
		PreVote:            true,
		SnapshotEntries:    cfg.SnapshotEntries,
		CompactionOverhead: cfg.CompactionOverhead,
		MaxInMemLogSize:    cfg.MaxInMemLogSize,
	}
	members := make(map[uint64]dragonboat.Target, len(cfg.InitialMembers))
	for id, addr := range cfg.InitialMembers {
		members[id] = addr
	}
	if err := nh.StartConcurrentReplica(members, cfg.Join, create, rc); err != nil {
		nh.Close()
		return nil, fmt.Errorf("replica: start shard %d replica %d: %w", cfg.ShardID, cfg.ReplicaID, err)
	}
	return &Replica{cfg: cfg, nh: nh}, nil
}

// Close stops the replica and its NodeHost. Calling it twice is harmless;
// calls after it fail with ErrUnavailable.
func (r *Replica) Close() {
	r.closeOnce.Do(r.nh.Close)
}

// ShardID returns the replica's shard.
func (r *Replica) ShardID() uint64 { return r.cfg.ShardID }

// ReplicaID returns the replica's ID.
func (r *Replica) ReplicaID() uint64 { return r.cfg.ReplicaID }

// RaftAddress returns the replica's Raft address.
func (r *Replica) RaftAddress() string { return r.cfg.RaftAddress }

func (r *Replica) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, r.cfg.Timeout)
}

// hold runs op until it succeeds, fails with an error that retrying cannot
// mend, or HoldTimeout has passed since the first try. retry says which
// errors mean that op did nothing and may run again.
func (r *Replica) hold(ctx context.Context, op func(context.Context) error, retry func(error) bool) error {
	ctx, cancel := r.withDeadline(ctx)
	defer cancel()
	giveUp := time.Now().Add(r.cfg.HoldTimeout)
	pause := r.cfg.RTT
	for {
		err := op(ctx)
		if err == nil || !retry(err) || time.Now().After(giveUp) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		// The pause may have outlived the deadline; a try now would only
		// fail with Dragonboat's ErrInvalidDeadline and hide err.
		if ctx.Err() != nil {
			return err
		}
		pause = min(2*pause, 10*r.cfg.RTT)
	}
}

// notApplied reports errors after which a proposal is known not to have
// been applied: it was dropped before reaching a leader's log.
func notApplied(err error) bool {
	return errors.Is(err, dragonboat.ErrShardNotReady) ||
		errors.Is(err, dragonboat.ErrSystemBusy) ||
		errors.Is(err, dragonboat.ErrShardNotInitialized)
}

// Propose replicates cmd and returns the state machine's result once the
// entry is committed (on disk on a quorum) and applied here. A proposal
// dropped for want of a leader is retried for up to HoldTimeout; one that
// timed out is not, since it may still commit.
func (r *Replica) Propose(ctx context.Context, cmd []byte) (sm.Result, error) {
	var res sm.Result
	err := r.hold(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.nh.SyncPropose(ctx, r.nh.GetNoOPSession(r.cfg.ShardID), cmd)
		return err
	}, notApplied)
	if err != nil {
		return sm.Result{}, r.wrap(err)
	}
	return res, nil
}

// Read runs query against the state machine after a ReadIndex round: a
// linearizable read. Reads change nothing, so any transient failure is
// retried for up to HoldTimeout.
func (r *Replica) Read(ctx context.Context, query any) (any, error) {
	var v any
	err := r.hold(ctx, func(ctx context.Context) error {
		var err error
		v, err = r.nh.SyncRead(ctx, r.cfg.ShardID, query)
		return err
	}, func(err error) bool {
		return dragonboat.IsTempError(err) && !errors.Is(err, dragonboat.ErrClosed) && ctx.Err() == nil
	})
	if err != nil {
		return nil, r.wrap(err)
	}
	return v, nil
}

// StaleRead runs query against the local state machine as it is.
func (r *Replica) StaleRead(query any) (any, error) {
	v, err := r.nh.StaleRead(r.cfg.ShardID, query)
	if err != nil {
		return nil, r.wrap(err)
	}
	return v, nil
}

// Leader returns the leader's replica ID and whether one is known.
func (r *Replica) Leader() (uint64, bool) {
	id, _, ok, err := r.nh.GetLeaderID(r.cfg.ShardID)
	if err != nil || !ok {
		return 0, false
	}
	return id, true
}

// Members returns the shard's voting members: replica ID to Raft address.
func (r *Replica) Members(ctx context.Context) (map[uint64]string, error) {
	ctx, cancel := r.withDeadline(ctx)
	defer cancel()
	m, err := r.nh.SyncGetShardMembership(ctx, r.cfg.ShardID)
	if err != nil {
		return nil, r.wrap(err)
	}
	return m.Nodes, nil
}

// Sentinel errors of a replica; test with errors.Is.
var (
	// ErrNoLeader: the shard has no leader, so nothing can commit.
	ErrNoLeader = errors.New("No cluster leader")
	// ErrBusy: the shard's proposal queue is full; retry later.
	ErrBusy = errors.New("replica busy, try again later")
	// ErrUnavailable: the replica cannot serve now (closed, not ready, timed out).
	ErrUnavailable = errors.New("replica unavailable")
)

// wrap turns a Dragonboat error into one of the sentinels above, keeping
// the original in the chain.
func (r *Replica) wrap(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, dragonboat.ErrCanceled):
		return fmt.Errorf("%w: %w", context.Canceled, err)
	case errors.Is(err, dragonboat.ErrInvalidDeadline), errors.Is(err, dragonboat.ErrTimeoutTooSmall):
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	case errors.Is(err, dragonboat.ErrSystemBusy):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	case dragonboat.IsTempError(err) || errors.Is(err, context.DeadlineExceeded):
		if _, ok := r.Leader(); !ok {
			return fmt.Errorf("%w: %w", ErrNoLeader, err)
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
