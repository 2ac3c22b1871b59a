package replica

import (
	"context"
	"fmt"

	"github.com/tribune/tribune/lib/rpc"
	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
)

// GossipServers lists the LAN pool's servers through the membership
// service, with the Raft addresses their portTag tag names ("port" for
// the registry shard, "kv_port" for the KV shard).
func GossipServers(c membershipv1.MembershipServiceClient, portTag string) ListServers {
	return func(ctx context.Context) ([]Server, error) {
		resp, err := c.ListMembers(ctx, &membershipv1.ListMembersRequest{})
		if err != nil {
			return nil, err
		}
		var out []Server
		for _, m := range resp.Members {
			alive := m.Status == membershipv1.MemberStatus_MEMBER_STATUS_ALIVE
			left := m.Status == membershipv1.MemberStatus_MEMBER_STATUS_LEFT
			if s, ok := ServerFromMember(m.Name, m.Addr, alive, left, m.Tags, portTag); ok {
				out = append(out, s)
			}
		}
		return out, nil
	}
}

// PeerConfigurations asks a server's public gRPC API (its gateway) for its
// local view of shard's configuration (a stale RaftConfiguration, which
// needs no leader): the replica IDs of its members, none while it waits
// for its own bootstrap.
func PeerConfigurations(shard statusv1.Shard) PeerConfiguration {
	return func(ctx context.Context, s Server) ([]uint64, error) {
		conn, err := rpc.Dial(s.GRPCAddress)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", s.GRPCAddress, err)
		}
		defer conn.Close()
		resp, err := statusv1.NewStatusServiceClient(conn).RaftConfiguration(ctx,
			&statusv1.RaftConfigurationRequest{Stale: true, Shard: shard})
		if err != nil {
			return nil, fmt.Errorf("ask %s: %w", s.GRPCAddress, err)
		}
		ids := make([]uint64, 0, len(resp.Servers))
		for _, srv := range resp.Servers {
			ids = append(ids, srv.ReplicaId)
		}
		return ids, nil
	}
}
