package httpapi

import (
	"net/url"

	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/raftpeer"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
)

// raftServer is a member of the Raft configuration as Consul's
// /v1/operator/raft/configuration writes it (api.RaftServer).
type raftServer struct {
	ID              string
	Node            string
	Address         string
	Leader          bool
	Voter           bool
	ProtocolVersion string
}

// raftConfiguration is Consul's api.RaftConfiguration.
type raftConfiguration struct {
	Servers []raftServer
	Index   uint64
}

// parseOperator reads the parameters of /v1/status and /v1/operator/raft
// (Consul's dc, stale and consistent, with its messages; for a peer's
// removal exactly one of id and address). It reports whether msg is one
// of those requests.
func parseOperator(msg proto.Message, v url.Values) (bool, error) {
	switch m := msg.(type) {
	case *statusv1.LeaderRequest:
		m.Datacenter = v.Get("dc")
	case *statusv1.PeersRequest:
		m.Datacenter = v.Get("dc")
	case *statusv1.RaftConfigurationRequest:
		opts, err := queryOptions(v)
		if err != nil {
			return true, err
		}
		m.Datacenter = opts.Datacenter
		m.Stale = opts.Consistency == queryv1.Consistency_CONSISTENCY_STALE
	case *statusv1.RemovePeerRequest:
		hasID, hasAddress := has(v, "id"), has(v, "address")
		switch {
		case !hasID && !hasAddress:
			return true, badRequest(raftpeer.MsgNeither)
		case hasID && hasAddress:
			return true, badRequest(raftpeer.MsgBoth)
		}
		m.Datacenter, m.Id, m.Address = v.Get("dc"), v.Get("id"), v.Get("address")
	default:
		return false, nil
	}
	return true, nil
}

// operatorView is the Consul-shaped body of a status or Raft operator
// response.
func operatorView(m proto.Message) (any, bool) {
	switch r := m.(type) {
	case *statusv1.LeaderResponse:
		return r.Address, true
	case *statusv1.PeersResponse:
		if r.Addresses == nil {
			return []string{}, true
		}
		return r.Addresses, true
	case *statusv1.RaftConfigurationResponse:
		out := raftConfiguration{Servers: make([]raftServer, 0, len(r.GetServers())), Index: r.GetIndex()}
		for _, s := range r.GetServers() {
			out.Servers = append(out.Servers, raftServer{
				ID: s.GetId(), Node: s.GetNode(), Address: s.GetAddress(), Leader: s.GetLeader(),
				ProtocolVersion: s.GetProtocolVersion(), Voter: s.GetVoter(),
			})
		}
		return out, true
	case *statusv1.RemovePeerResponse:
		// Consul answers a removal with 200 and no body.
		return emptyBody{}, true
	}
	return nil, false
}
