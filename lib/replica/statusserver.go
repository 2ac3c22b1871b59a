package replica

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/lib/raftpeer"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
)

// RaftProtocolVersion is the Raft protocol version reported for every
// server, Consul's current one: clients only show it.
const RaftProtocolVersion = "3"

// UnknownNode is the node name of a member gossip does not know, as Consul
// writes it.
const UnknownNode = "(unknown)"

// StatusServer serves tribune.status.v1.StatusService for one shard
// replica: its leader, peers and membership, and the removal of a member.
// The registry and kv services each serve one for their shard.
type StatusServer struct {
	statusv1.UnimplementedStatusServiceServer

	r      *Replica
	nodeID string
	// servers names the members from gossip; nil leaves them unknown but
	// this server.
	servers ListServers
}

var _ statusv1.StatusServiceServer = (*StatusServer)(nil)

// NewStatusServer returns the status service of r, on the server whose node
// ID is nodeID; servers (optional) lists the gossip pool's servers with
// their Raft addresses in r's shard, for the members' names and IDs.
func NewStatusServer(r *Replica, nodeID string, servers ListServers) *StatusServer {
	return &StatusServer{r: r, nodeID: nodeID, servers: servers}
}

// AddTo adds the service to g.
func (s *StatusServer) AddTo(g grpc.ServiceRegistrar) {
	statusv1.RegisterStatusServiceServer(g, s)
}

// Leader returns the leader's Raft address, empty while there is none
// (before the bootstrap, during an election), as Consul answers. Like
// Consul's, it is this replica's knowledge: no round trip to the leader.
func (s *StatusServer) Leader(ctx context.Context, _ *statusv1.LeaderRequest) (*statusv1.LeaderResponse, error) {
	c, err := s.r.Configuration(ctx, true)
	if err != nil {
		return nil, Status(err)
	}
	if c.Leader == 0 {
		return &statusv1.LeaderResponse{}, nil
	}
	return &statusv1.LeaderResponse{Address: c.Voters[c.Leader]}, nil
}

// Peers returns the voting members' Raft addresses, sorted, as this
// replica knows them (Consul's answer is its local Raft configuration
// too, so it answers without a leader); none before the bootstrap.
func (s *StatusServer) Peers(ctx context.Context, _ *statusv1.PeersRequest) (*statusv1.PeersResponse, error) {
	c, err := s.r.Configuration(ctx, true)
	if err != nil {
		return nil, Status(err)
	}
	out := make([]string, 0, len(c.Voters))
	for _, addr := range c.Voters {
		out = append(out, addr)
	}
	slices.Sort(out)
	return &statusv1.PeersResponse{Addresses: out}, nil
}

// RaftConfiguration returns the shard's membership with each member's node
// ID and name from gossip, sorted by address. The request's shard is the
// caller's business: this server answers for its own.
func (s *StatusServer) RaftConfiguration(ctx context.Context, req *statusv1.RaftConfigurationRequest) (*statusv1.RaftConfigurationResponse, error) {
	c, err := s.r.Configuration(ctx, req.GetStale())
	if err != nil {
		return nil, Status(err)
	}
	byID := s.gossip(ctx)
	out := &statusv1.RaftConfigurationResponse{Index: c.Index, Servers: []*statusv1.RaftServer{}}
	add := func(members map[uint64]string, voter bool) {
		for id, addr := range members {
			rs := &statusv1.RaftServer{
				Id: strconv.FormatUint(id, 10), Node: UnknownNode, Address: addr,
				Leader: id == c.Leader && c.Leader != 0, Voter: voter,
				ProtocolVersion: RaftProtocolVersion, ReplicaId: id,
			}
			if g, ok := byID[id]; ok {
				rs.Id, rs.Node = g.NodeID, g.Name
			} else if id == s.r.ReplicaID() && s.nodeID != "" {
				rs.Id = s.nodeID
			}
			out.Servers = append(out.Servers, rs)
		}
	}
	add(c.Voters, true)
	add(c.NonVoters, false)
	slices.SortFunc(out.Servers, func(a, b *statusv1.RaftServer) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

// gossip returns the pool's servers by replica ID; nothing when gossip
// cannot be asked.
func (s *StatusServer) gossip(ctx context.Context) map[uint64]Server {
	out := map[uint64]Server{}
	if s.servers == nil {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	list, err := s.servers(ctx)
	if err != nil {
		return out
	}
	for _, g := range list {
		out[nodeid.ReplicaID(g.NodeID)] = g
	}
	return out
}

// RemovePeer removes a member from this shard: the one replica_id names,
// else the one whose ID (node ID, or replica ID in decimal) is id, else the
// one whose Raft address in this shard is address.
func (s *StatusServer) RemovePeer(ctx context.Context, req *statusv1.RemovePeerRequest) (*statusv1.RemovePeerResponse, error) {
	id := req.GetReplicaId()
	switch {
	case id != 0:
	case req.GetId() != "" && req.GetAddress() != "":
		return nil, status.Error(codes.InvalidArgument, raftpeer.MsgBoth)
	case req.GetId() != "":
		var ok bool
		if id, ok = raftpeer.ReplicaID(req.GetId()); !ok {
			return nil, status.Errorf(codes.NotFound, "id %q was not found in the Raft configuration", req.GetId())
		}
	case req.GetAddress() != "":
		c, err := s.r.Configuration(ctx, false)
		if err != nil {
			return nil, Status(err)
		}
		for rid, addr := range c.Voters {
			if addr == req.GetAddress() {
				id = rid
			}
		}
		for rid, addr := range c.NonVoters {
			if addr == req.GetAddress() {
				id = rid
			}
		}
		if id == 0 {
			return nil, status.Errorf(codes.NotFound, "address %q was not found in the Raft configuration", req.GetAddress())
		}
	default:
		return nil, status.Error(codes.InvalidArgument, raftpeer.MsgNeither)
	}
	if err := s.r.RemoveReplica(ctx, id); err != nil {
		return nil, Status(fmt.Errorf("remove peer: %w", err))
	}
	return &statusv1.RemovePeerResponse{}, nil
}
