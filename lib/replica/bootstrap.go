package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tribune/tribune/lib/nodeid"
)

// The gossip member tags the bootstrap reads; the same keys as
// services/membership/tags (which lib does not import).
const (
	tagRole       = "role"
	tagDatacenter = "dc"
	tagID         = "id"
	tagExpect     = "expect"
	tagGRPC       = "grpc"
	roleServer    = "consul"
)

// Server is a server agent seen in the LAN gossip pool, with the Raft
// address of one shard's replica on it.
type Server struct {
	Name       string
	NodeID     string
	Datacenter string
	// Alive: gossip sees it alive. Left: it has left the pool (gracefully,
	// or by force-leave); neither: it has failed (or is leaving).
	Alive, Left bool
	Expect      int
	RaftAddress string
	// GRPCAddress is the agent's public gRPC address (its "grpc" tag, with
	// the member's address for a wildcard host); empty when unknown.
	GRPCAddress string
}

// ServerFromMember reads a gossip member: its name, address, liveness
// (alive, or left the pool; neither is failed) and tags. portTag names the
// tag holding the shard's Raft port ("port" for the registry shard,
// "kv_port" for the KV shard). ok is false for a client agent or a server
// without that tag.
func ServerFromMember(name, addr string, alive, left bool, tags map[string]string, portTag string) (Server, bool) {
	if tags[tagRole] != roleServer || tags[portTag] == "" || tags[tagID] == "" {
		return Server{}, false
	}
	expect, _ := strconv.Atoi(tags[tagExpect])
	return Server{Name: name, NodeID: tags[tagID], Datacenter: tags[tagDatacenter], Alive: alive, Left: left,
		Expect: expect, RaftAddress: net.JoinHostPort(addr, tags[portTag]), GRPCAddress: grpcAddress(addr, tags[tagGRPC])}, true
}

// grpcAddress is where a member serves its public gRPC API: its grpc tag,
// with the member's gossip address when the tag's host is a wildcard.
func grpcAddress(addr, tag string) string {
	host, port, err := net.SplitHostPort(tag)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = addr
	}
	return net.JoinHostPort(host, port)
}

// PeerConfiguration returns the replica IDs of the shard's configuration
// as server s knows it (none while s waits for its own bootstrap).
type PeerConfiguration func(ctx context.Context, s Server) ([]uint64, error)

// existingCluster decides, from what the other servers of a planned
// bootstrap report, whether the bootstrap may go on, as Consul's servers
// ask their peers before they bootstrap: a peer whose configuration is
// the planned one bootstrapped with the same plan a moment earlier, and
// this server bootstraps too (the same initial members everywhere); a
// peer with any other configuration belongs to a cluster formed before
// (this server replaces a dead one, say), which this one must join
// instead of forming a second. reports holds each asked server's replica
// IDs by name.
func existingCluster(initial map[uint64]string, reports map[string][]uint64) (join bool, why string) {
	names := make([]string, 0, len(reports))
	for n := range reports {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		ids := reports[n]
		if len(ids) == 0 {
			continue
		}
		same := len(ids) == len(initial)
		for _, id := range ids {
			if _, ok := initial[id]; !ok {
				same = false
			}
		}
		if !same {
			return true, fmt.Sprintf("server %s reports an existing cluster of %d servers", n, len(ids))
		}
	}
	return false, ""
}

// ListServers returns the servers of the LAN gossip pool.
type ListServers func(ctx context.Context) ([]Server, error)

// HasRaftData reports whether dir holds a replica's Raft data already: it
// exists and is not empty. Such a replica restarts from it and never
// bootstraps again.
func HasRaftData(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}

// Plan decides how a replica without Raft data starts under
// -bootstrap-expect expect (> 1), from the servers gossip sees:
//
//   - an alive server of the datacenter with another expect: wait (the
//     operator must fix the configuration; no split cluster);
//   - fewer than expect alive servers with this expect: wait;
//   - exactly expect: bootstrap with all of them as InitialMembers (every
//     one of them computes the same map);
//   - more than expect: the cluster was bootstrapped before this server
//     arrived; join it (Join=true), and the shard's leader adds this
//     replica (FollowServers). A joining replica never forms a cluster by
//     itself, so this cannot split one.
//
// self is this server's entry; selfAddr is its own Raft address, used in
// place of the gossip address for itself. wait says why it must wait.
func Plan(servers []Server, dc string, expect int, selfNodeID, selfAddr string) (initial map[uint64]string, join bool, wait string) {
	var same []Server
	seenSelf := false
	for _, s := range servers {
		if !s.Alive || s.Datacenter != dc {
			continue
		}
		if s.Expect != expect {
			return nil, false, fmt.Sprintf("refusing to bootstrap: server %s expects %d servers, this one %d; fix -bootstrap-expect", s.Name, s.Expect, expect)
		}
		if s.NodeID == selfNodeID {
			seenSelf = true
			s.RaftAddress = selfAddr
		}
		same = append(same, s)
	}
	switch {
	case !seenSelf:
		return nil, false, "waiting to see this server in the gossip pool"
	case len(same) < expect:
		return nil, false, fmt.Sprintf("waiting for %d servers to bootstrap, %d alive", expect, len(same))
	case len(same) > expect:
		return nil, true, ""
	}
	initial = make(map[uint64]string, len(same))
	for _, s := range same {
		initial[nodeid.ReplicaID(s.NodeID)] = s.RaftAddress
	}
	return initial, false, ""
}

// waitBootstrap polls list until Plan says how to start and, before a
// bootstrap, asks the other servers of the plan through peers whether a
// cluster exists already (see existingCluster).
func waitBootstrap(ctx context.Context, list ListServers, peers PeerConfiguration, dc string, expect int, selfNodeID, selfAddr string,
	every time.Duration, log *slog.Logger) (map[uint64]string, bool, error) {
	lastWhy := ""
	for {
		servers, err := list(ctx)
		why := ""
		if err != nil {
			why = "waiting for the membership service: " + err.Error()
		} else {
			initial, join, wait := Plan(servers, dc, expect, selfNodeID, selfAddr)
			if wait == "" && initial != nil && peers != nil {
				reports, err := askPeers(ctx, peers, servers, dc, selfNodeID)
				switch {
				case err != nil:
					wait = err.Error()
				default:
					if j, reason := existingCluster(initial, reports); j {
						log.Info("bootstrap-expect: "+reason+": joining it; its leader adds this server", "expect", expect)
						return nil, true, nil
					}
				}
			}
			if wait == "" {
				return initial, join, nil
			}
			why = wait
		}
		if why != lastWhy {
			log.Info("bootstrap-expect: "+why, "expect", expect)
			lastWhy = why
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(every):
		}
	}
}

// askPeers asks every other alive server of dc with a gRPC address for its
// configuration of the shard; an error names the first that did not
// answer.
func askPeers(ctx context.Context, peers PeerConfiguration, servers []Server, dc, selfNodeID string) (map[string][]uint64, error) {
	reports := map[string][]uint64{}
	for _, s := range servers {
		if !s.Alive || s.Datacenter != dc || s.NodeID == selfNodeID || s.GRPCAddress == "" {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, peerTimeout)
		ids, err := peers(actx, s)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("waiting to learn whether server %s has a cluster already: %w", s.Name, err)
		}
		reports[s.Name] = ids
	}
	return reports, nil
}

// peerTimeout bounds one question to a peer before a bootstrap.
const peerTimeout = 2 * time.Second

// AddReplica adds a voting replica at addr to the shard. Only the leader
// can; elsewhere it fails.
func (r *Replica) AddReplica(ctx context.Context, replicaID uint64, addr string) error {
	nh, err := r.host()
	if err != nil {
		return err
	}
	ctx, cancel := r.withDeadline(ctx)
	defer cancel()
	m, err := nh.SyncGetShardMembership(ctx, r.cfg.ShardID)
	if err != nil {
		return r.wrap(err)
	}
	if _, ok := m.Nodes[replicaID]; ok {
		return nil
	}
	if err := nh.SyncRequestAddReplica(ctx, r.cfg.ShardID, replicaID, addr, m.ConfigChangeID); err != nil {
		return r.wrap(err)
	}
	return nil
}

// RemoveReplica removes a replica from the shard: a voter or a non-voter.
// It fails with ErrNotMember when the replica is neither, and with
// ErrLastVoter rather than leave the shard without a voter. Dragonboat
// forwards the change to the leader; the removed replica can never come
// back under the same ID.
func (r *Replica) RemoveReplica(ctx context.Context, replicaID uint64) error {
	nh, err := r.host()
	if err != nil {
		return err
	}
	ctx, cancel := r.withDeadline(ctx)
	defer cancel()
	m, err := nh.SyncGetShardMembership(ctx, r.cfg.ShardID)
	if err != nil {
		return r.wrap(err)
	}
	_, voter := m.Nodes[replicaID]
	_, nonVoter := m.NonVotings[replicaID]
	switch {
	case !voter && !nonVoter:
		return fmt.Errorf("replica %d of shard %d: %w", replicaID, r.cfg.ShardID, ErrNotMember)
	case voter && len(m.Nodes) <= 1:
		return fmt.Errorf("replica %d of shard %d: %w", replicaID, r.cfg.ShardID, ErrLastVoter)
	}
	if err := nh.SyncRequestDeleteReplica(ctx, r.cfg.ShardID, replicaID, m.ConfigChangeID); err != nil {
		return r.wrap(err)
	}
	return nil
}

// FollowServers keeps the shard's membership in step with the gossip pool
// while this replica leads the shard, polling list every so often until
// ctx ends, as Consul's leader does with its Raft peers:
//
//   - an alive server of dc with the same -bootstrap-expect that is not a
//     member yet is added: a server that arrived after the bootstrap and
//     started with Join;
//   - a member whose server has left the pool (`tribune leave`, a graceful
//     stop, or force-leave of a failed server) is removed, and so is one
//     that gossip reaped after this leader saw it failed or left. A failed
//     server is never removed for being failed: it may come back.
//
// The leader never removes itself (once it has left and stopped, the next
// leader removes it) nor the last voter. A replica removed once cannot be
// added back under its ID: such a server is reported, not retried.
func (r *Replica) FollowServers(ctx context.Context, list ListServers, dc string, expect int, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	f := &follower{r: r, dc: dc, expect: expect, log: log, departing: map[uint64]bool{}, reported: map[uint64]bool{}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if id, ok := r.Leader(); !ok || id != r.cfg.ReplicaID {
			clear(f.departing) // what a former leader saw may be stale
			continue
		}
		servers, err := list(ctx)
		if err != nil {
			continue
		}
		c, err := r.Configuration(ctx, false)
		if err != nil {
			continue
		}
		f.step(ctx, servers, c)
	}
}

// follower is FollowServers' state between two polls.
type follower struct {
	r      *Replica
	dc     string
	expect int
	log    *slog.Logger
	// departing holds the members seen failed or left while this replica
	// led: one that then disappears from gossip was reaped.
	departing map[uint64]bool
	// reported holds the removed servers already reported as unable to
	// rejoin.
	reported map[uint64]bool
}

// changes says what one poll would do: the servers to add and the members
// to remove, each with a reason.
type changes struct {
	Add    []Server
	Remove map[uint64]string
}

// step applies one poll's changes.
func (f *follower) step(ctx context.Context, servers []Server, c Configuration) {
	ch := f.plan(servers, c)
	shard := f.r.cfg.ShardID
	for _, s := range ch.Add {
		id := nodeid.ReplicaID(s.NodeID)
		if err := f.r.AddReplica(ctx, id, s.RaftAddress); err != nil {
			f.log.Warn("adding a server to the shard", "shard", shard, "server", s.Name, "raft", s.RaftAddress, "err", err)
			continue
		}
		f.log.Info("added a server to the shard", "shard", shard, "server", s.Name, "replica", id, "raft", s.RaftAddress)
	}
	ids := make([]uint64, 0, len(ch.Remove))
	for id := range ch.Remove {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		err := f.r.RemoveReplica(ctx, id)
		switch {
		case errors.Is(err, ErrNotMember):
		case err != nil:
			f.log.Warn("removing a server from the shard", "shard", shard, "replica", id, "why", ch.Remove[id], "err", err)
			continue
		default:
			f.log.Info("removed a server from the shard", "shard", shard, "replica", id,
				"raft", c.Voters[id]+c.NonVoters[id], "why", ch.Remove[id])
		}
		delete(f.departing, id)
	}
}

// plan decides one poll's changes from the servers gossip lists and the
// shard's configuration, and notes the departing members.
func (f *follower) plan(servers []Server, c Configuration) changes {
	ch := changes{Remove: map[uint64]string{}}
	slices.SortFunc(servers, func(a, b Server) int { return strings.Compare(a.Name, b.Name) })
	known := map[uint64]bool{}
	for _, s := range servers {
		if s.Datacenter != f.dc {
			continue
		}
		id := nodeid.ReplicaID(s.NodeID)
		known[id] = true
		_, voter := c.Voters[id]
		_, nonVoter := c.NonVoters[id]
		member := voter || nonVoter
		switch {
		case s.Left && member:
			f.departing[id] = true
			if id != f.r.cfg.ReplicaID {
				ch.Remove[id] = "left the gossip pool"
			}
		case !s.Alive && member:
			f.departing[id] = true // failed: kept, but watched for its reap
		case s.Alive && member:
			delete(f.departing, id)
		case s.Alive && c.Removed[id]:
			if !f.reported[id] {
				f.reported[id] = true
				f.log.Warn("a server removed from the shard is back; Raft does not take a removed replica back: "+
					"start it with an empty data directory (a new node ID) to rejoin",
					"shard", f.r.cfg.ShardID, "server", s.Name, "replica", id)
			}
		case s.Alive && s.Expect == f.expect:
			ch.Add = append(ch.Add, s)
		}
	}
	for id := range f.departing {
		_, voter := c.Voters[id]
		_, nonVoter := c.NonVoters[id]
		switch {
		case !voter && !nonVoter:
			delete(f.departing, id)
		case !known[id] && id != f.r.cfg.ReplicaID:
			ch.Remove[id] = "reaped from the gossip pool"
		}
	}
	return ch
}
