package replica

import (
	"context"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
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
