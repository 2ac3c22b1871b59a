package replica

import (
	"context"
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
	roleServer    = "consul"
)

// Server is a server agent seen in the LAN gossip pool, with the Raft
// address of one shard's replica on it.
type Server struct {
	Name        string
	NodeID      string
	Datacenter  string
	Alive       bool
	Expect      int
	RaftAddress string
}

// ServerFromMember reads a gossip member: its name, address, liveness and
// tags. portTag names the tag holding the shard's Raft port ("port" for
// the registry shard, "kv_port" for the KV shard). ok is false for a
// client agent or a server without that tag.
func ServerFromMember(name, addr string, alive bool, tags map[string]string, portTag string) (Server, bool) {
	if tags[tagRole] != roleServer || tags[portTag] == "" || tags[tagID] == "" {
		return Server{}, false
	}
	expect, _ := strconv.Atoi(tags[tagExpect])
	return Server{Name: name, NodeID: tags[tagID], Datacenter: tags[tagDatacenter], Alive: alive, Expect: expect,
		RaftAddress: net.JoinHostPort(addr, tags[portTag])}, true
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

// waitBootstrap polls list until Plan says how to start.
func waitBootstrap(ctx context.Context, list ListServers, dc string, expect int, selfNodeID, selfAddr string,
	every time.Duration, log *slog.Logger) (map[uint64]string, bool, error) {
	lastWhy := ""
	for {
		servers, err := list(ctx)
		why := ""
		if err != nil {
			why = "waiting for the membership service: " + err.Error()
		} else {
			initial, join, wait := Plan(servers, dc, expect, selfNodeID, selfAddr)
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

// AddReplica adds a voting replica at addr to the shard. Only the leader
// can; elsewhere it fails.
func (r *Replica) AddReplica(ctx context.Context, replicaID uint64, addr string) error {
	ctx, cancel := r.withDeadline(ctx)
	defer cancel()
	m, err := r.nh.SyncGetShardMembership(ctx, r.cfg.ShardID)
	if err != nil {
		return r.wrap(err)
	}
	if _, ok := m.Nodes[replicaID]; ok {
		return nil
	}
	if err := r.nh.SyncRequestAddReplica(ctx, r.cfg.ShardID, replicaID, addr, m.ConfigChangeID); err != nil {
		return r.wrap(err)
	}
	return nil
}

// FollowServers adds to the shard, while this replica leads it, every
// alive server of dc with the same -bootstrap-expect that is not a member
// yet: a server that arrived after the bootstrap and started with Join.
// It polls every so often until ctx ends. Servers are never removed here.
func (r *Replica) FollowServers(ctx context.Context, list ListServers, dc string, expect int, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if id, ok := r.Leader(); !ok || id != r.cfg.ReplicaID {
			continue
		}
		servers, err := list(ctx)
		if err != nil {
			continue
		}
		members, err := r.Members(ctx)
		if err != nil {
			continue
		}
		slices.SortFunc(servers, func(a, b Server) int { return strings.Compare(a.Name, b.Name) })
		for _, s := range servers {
			id := nodeid.ReplicaID(s.NodeID)
			if _, ok := members[id]; ok || !s.Alive || s.Datacenter != dc || s.Expect != expect {
				continue
			}
			if err := r.AddReplica(ctx, id, s.RaftAddress); err != nil {
				log.Warn("adding a server to the shard", "shard", r.cfg.ShardID, "server", s.Name, "raft", s.RaftAddress, "err", err)
				continue
			}
			log.Info("added a server to the shard", "shard", r.cfg.ShardID, "server", s.Name, "replica", id, "raft", s.RaftAddress)
		}
	}
}
