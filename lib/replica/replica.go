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
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/tribune/tribune/lib/rpc"
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
	// ContactProbeInterval bounds how long a follower goes without knowing
	// it can reach its leader: when no read or proposal has gone through
	// the leader for half of it, the follower checks with a ReadIndex
	// round, so that LastContact stays current while it serves only stale
	// reads.
	ContactProbeInterval time.Duration
	// ReadAttemptTimeout bounds one ReadIndex round of a linearizable read;
	// a round without an answer by then is tried again (see Read).
	ReadAttemptTimeout time.Duration

	Logger *slog.Logger
}

// DefaultConfig returns the settings for a shard on a LAN: a 20 ms tick,
// elections after 400 ms without a heartbeat, a snapshot every 10,000
// entries keeping 5,000 behind it.
func DefaultConfig() Config {
	return Config{
		RTT:                  20 * time.Millisecond,
		ElectionTicks:        20, // 400 ms: a few lost heartbeats, not one.
		HeartbeatTicks:       2,  // 40 ms
		SnapshotEntries:      10000,
		CompactionOverhead:   5000,
		MaxInMemLogSize:      256 << 20,
		Timeout:              rpc.ProposalTimeout,
		HoldTimeout:          7 * time.Second,
		ContactProbeInterval: time.Second,
		ReadAttemptTimeout:   2 * time.Second,
		Logger:               slog.Default(),
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
	case c.ReadAttemptTimeout <= 0:
		return fmt.Errorf("replica: ReadAttemptTimeout must be positive, got %v", c.ReadAttemptTimeout)
	case c.ContactProbeInterval < 2*time.Millisecond:
		return fmt.Errorf("replica: ContactProbeInterval must be at least 2ms, got %v", c.ContactProbeInterval)
	}
	return nil
}

// Replica is a shard replica. One made by Start runs; one made by
// pending waits for its bootstrap (RunService serves it meanwhile) and
// answers as a shard without a leader until start.
type Replica struct {
	cfg Config
	// nh is nil until the replica has started.
	nh        atomic.Pointer[dragonboat.NodeHost]
	started   chan struct{}
	closeOnce sync.Once
	// contact is when this replica last knew it could reach its leader
	// (UnixNano); see LastContact.
	contact atomic.Int64
	// stop ends the contact prober, which probing counts.
	stop    chan struct{}
	probing sync.WaitGroup
}

// Start opens the NodeHost in cfg.Dir and starts the replica with the
// state machine that create returns. A replica with Raft data restarts from
// it; otherwise it bootstraps with cfg.InitialMembers or joins.
func Start(cfg Config, create sm.CreateConcurrentStateMachineFunc) (*Replica, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := pending(cfg)
	if err := r.start(cfg.InitialMembers, cfg.Join, create); err != nil {
		return nil, err
	}
	return r, nil
}

// pending returns a replica that has not started: it has no leader, no
// members, and refuses proposals and reads with ErrNoLeader.
func pending(cfg Config) *Replica {
	return &Replica{cfg: cfg, started: make(chan struct{}), stop: make(chan struct{})}
}

// errPending is what a replica that has not started answers.
var errPending = fmt.Errorf("%w: the shard waits for its bootstrap", ErrNoLeader)

// host returns the running NodeHost, or errPending.
func (r *Replica) host() (*dragonboat.NodeHost, error) {
	if nh := r.nh.Load(); nh != nil {
		return nh, nil
	}
	return nil, errPending
}

// Started is closed once the replica runs.
func (r *Replica) Started() <-chan struct{} { return r.started }

// start opens the NodeHost and starts the pending replica, bootstrapping
// with initial or joining when it has no Raft data (the bootstrap decides
// them; the rest of the configuration is the pending replica's).
func (r *Replica) start(initial map[uint64]string, join bool, create sm.CreateConcurrentStateMachineFunc) error {
	cfg := r.cfg
	cfg.InitialMembers, cfg.Join = initial, join
	if err := cfg.Validate(); err != nil {
		return err
	}
	installLogger(cfg.Logger)
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return fmt.Errorf("replica: %w", err)
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
		return fmt.Errorf("replica: open NodeHost in %s: %w", cfg.Dir, err)
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
		return fmt.Errorf("replica: start shard %d replica %d: %w", cfg.ShardID, cfg.ReplicaID, err)
	}
	r.noteContact()
	r.nh.Store(nh)
	r.probing.Add(1)
	go r.probeContact(nh)
	close(r.started)
	return nil
}

// noteContact records that this replica has just reached its leader (or
// is the leader).
func (r *Replica) noteContact() { r.contact.Store(time.Now().UnixNano()) }

// isLeader reports whether this replica leads its shard.
func (r *Replica) isLeader(nh *dragonboat.NodeHost) bool {
	id, _, ok, err := nh.GetLeaderID(r.cfg.ShardID)
	return err == nil && ok && id == r.cfg.ReplicaID
}

// LastContact returns how long ago this replica last knew it could reach
// its shard's leader: 0 on the leader, and on a follower the time since a
// read, proposal or ReadIndex probe last went through the leader, as
// Consul's X-Consul-LastContact reports it for stale reads. A replica
// that has not started returns 0 (it knows no leader either).
func (r *Replica) LastContact() time.Duration {
	nh, err := r.host()
	if err != nil || r.isLeader(nh) {
		return 0
	}
	return max(time.Since(time.Unix(0, r.contact.Load())), 0)
}

// probeContact confirms with a ReadIndex round that a follower can reach
// its leader whenever nothing else has shown it for half of
// ContactProbeInterval, so that a follower in touch reports a LastContact
// of about ContactProbeInterval at most (Consul's clients, consul-template
// among them, retry a stale read on the leader past 2 s by default).
func (r *Replica) probeContact(nh *dragonboat.NodeHost) {
	defer r.probing.Done()
	every := r.cfg.ContactProbeInterval / 2
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		if r.isLeader(nh) {
			r.noteContact()
			continue
		}
		if time.Since(time.Unix(0, r.contact.Load())) < every {
			continue
		}
		rs, err := nh.ReadIndex(r.cfg.ShardID, r.cfg.ContactProbeInterval)
		if err != nil {
			continue
		}
		select {
		case res := <-rs.ResultC():
			if res.Completed() {
				r.noteContact()
			}
		case <-r.stop:
			rs.Release()
			return
		}
		rs.Release()
	}
}

// Close stops the replica and its NodeHost. Calling it twice is harmless;
// calls after it fail with ErrUnavailable. It must not run concurrently
// with the start of a pending replica.
func (r *Replica) Close() {
	r.closeOnce.Do(func() {
		close(r.stop)
		r.probing.Wait()
		if nh := r.nh.Load(); nh != nil {
			nh.Close()
		}
	})
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
	nh, err := r.host()
	if err != nil {
		return sm.Result{}, err
	}
	var res sm.Result
	err = r.hold(ctx, func(ctx context.Context) error {
		var err error
		res, err = nh.SyncPropose(ctx, nh.GetNoOPSession(r.cfg.ShardID), cmd)
		return err
	}, notApplied)
	if err != nil {
		return sm.Result{}, r.wrap(err)
	}
	r.noteContact()
	return res, nil
}

// retryRead says which errors of a linearizable read may be retried: the
// transient ones, while ctx lasts.
func retryRead(ctx context.Context) func(error) bool {
	return func(err error) bool {
		return dragonboat.IsTempError(err) && !errors.Is(err, dragonboat.ErrClosed) && ctx.Err() == nil
	}
}

// Read runs query against the state machine after a ReadIndex round: a
// linearizable read. Reads change nothing, so any transient failure is
// retried for up to HoldTimeout, and so is a round that has not answered
// within ReadAttemptTimeout: Dragonboat never resends a ReadIndex message
// its transport dropped (as it does for a second after failing to dial a
// peer), and such a read would otherwise wait out its whole deadline.
func (r *Replica) Read(ctx context.Context, query any) (any, error) {
	nh, err := r.host()
	if err != nil {
		return nil, err
	}
	var v any
	err = r.hold(ctx, func(ctx context.Context) error {
		attempt, cancel := context.WithTimeout(ctx, r.cfg.ReadAttemptTimeout)
		defer cancel()
		var err error
		v, err = nh.SyncRead(attempt, r.cfg.ShardID, query)
		if err != nil && attempt.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%w: no answer within %v", dragonboat.ErrTimeout, r.cfg.ReadAttemptTimeout)
		}
		return err
	}, retryRead(ctx))
	if err != nil {
		return nil, r.wrap(err)
	}
	r.noteContact()
	return v, nil
}

// StaleRead runs query against the local state machine as it is.
func (r *Replica) StaleRead(query any) (any, error) {
	nh, err := r.host()
	if err != nil {
		return nil, err
	}
	v, err := nh.StaleRead(r.cfg.ShardID, query)
	if err != nil {
		return nil, r.wrap(err)
	}
	return v, nil
}

// Leader returns the leader's replica ID and whether one is known.
func (r *Replica) Leader() (uint64, bool) {
	nh, err := r.host()
	if err != nil {
		return 0, false
	}
	id, _, ok, err := nh.GetLeaderID(r.cfg.ShardID)
	if err != nil || !ok {
		return 0, false
	}
	return id, true
}

// Members returns the shard's voting members: replica ID to Raft address.
// A replica waiting for its bootstrap knows none.
func (r *Replica) Members(ctx context.Context) (map[uint64]string, error) {
	if _, err := r.host(); err != nil {
		return map[uint64]string{}, nil
	}
	c, err := r.Configuration(ctx, false)
	if err != nil {
		return nil, err
	}
	return c.Voters, nil
}

// Configuration is a shard's Raft membership.
type Configuration struct {
	// Index is the Raft index of the latest membership change.
	Index uint64
	// Leader is the leader's replica ID, 0 when none is known.
	Leader uint64
	// Voters and NonVoters map replica IDs to Raft addresses.
	Voters, NonVoters map[uint64]string
	// Removed holds the replicas removed from the shard, which Dragonboat
	// never lets back in under the same ID.
	Removed map[uint64]bool
}

// Configuration returns the shard's membership. Without stale it is read
// through the leader (a ReadIndex round, retried for up to HoldTimeout
// while there is none); with stale it is the local replica's view, which
// may lag, and is empty while the replica waits for its bootstrap.
func (r *Replica) Configuration(ctx context.Context, stale bool) (Configuration, error) {
	nh, err := r.host()
	if err != nil {
		if stale {
			return Configuration{Voters: map[uint64]string{}}, nil
		}
		return Configuration{}, err
	}
	leader, _ := r.Leader()
	if stale {
		info := nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true})
		if info == nil {
			return Configuration{}, fmt.Errorf("%w: %w", ErrUnavailable, dragonboat.ErrClosed)
		}
		for _, si := range info.ShardInfoList {
			if si.ShardID == r.cfg.ShardID {
				voters := make(map[uint64]string, len(si.Replicas))
				for id, addr := range si.Replicas {
					voters[id] = addr
				}
				return Configuration{Index: si.ConfigChangeIndex, Leader: leader, Voters: voters}, nil
			}
		}
		return Configuration{Voters: map[uint64]string{}, Leader: leader}, nil
	}
	var m *dragonboat.Membership
	err = r.hold(ctx, func(ctx context.Context) error {
		var err error
		m, err = nh.SyncGetShardMembership(ctx, r.cfg.ShardID)
		return err
	}, retryRead(ctx))
	if err != nil {
		return Configuration{}, r.wrap(err)
	}
	leader, _ = r.Leader()
	c := Configuration{Index: m.ConfigChangeID, Leader: leader, Voters: m.Nodes, NonVoters: m.NonVotings,
		Removed: make(map[uint64]bool, len(m.Removed))}
	for id := range m.Removed {
		c.Removed[id] = true
	}
	return c, nil
}

// Sentinel errors of a replica; test with errors.Is.
var (
	// ErrNoLeader: the shard has no leader, so nothing can commit.
	ErrNoLeader = errors.New("No cluster leader")
	// ErrBusy: the shard's proposal queue is full; retry later.
	ErrBusy = errors.New("replica busy, try again later")
	// ErrUnavailable: the replica cannot serve now (closed, not ready, timed out).
	ErrUnavailable = errors.New("replica unavailable")
	// ErrNotMember: the replica named is not a member of the shard.
	ErrNotMember = errors.New("not a member of the shard")
	// ErrLastVoter: removing the replica would leave the shard no voter.
	ErrLastVoter = errors.New("cannot remove the last voter of the shard")
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
