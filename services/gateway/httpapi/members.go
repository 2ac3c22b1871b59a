package httpapi

import (
	"net/url"
	"strconv"

	"google.golang.org/protobuf/proto"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	"github.com/tribune/tribune/services/gateway/consul"
)

// flagValue reads a Consul boolean parameter: present and empty, "1" or
// "true" (?wan, ?wan=1).
func flagValue(v url.Values, name string) bool {
	if !has(v, name) {
		return false
	}
	s := v.Get(name)
	if s == "" {
		return true
	}
	b, err := strconv.ParseBool(s)
	return err == nil && b
}

// parseMembers reads the query parameters of the gossip requests; it
// reports whether msg is one. ?segment is accepted and ignored: there are
// no network segments.
func parseMembers(msg proto.Message, v url.Values) bool {
	switch m := msg.(type) {
	case *membershipv1.ListMembersRequest:
		m.Wan = flagValue(v, "wan")
	case *membershipv1.JoinRequest:
		m.Wan = flagValue(v, "wan")
	case *membershipv1.ForceLeaveRequest:
		m.Prune, m.Wan = flagValue(v, "prune"), flagValue(v, "wan")
	case *membershipv1.LeaveRequest:
	default:
		return false
	}
	return true
}

// membersView is the Consul-shaped body of a gossip call: the member list
// of /v1/agent/members, and an empty body for join, leave and force-leave.
func membersView(m proto.Message) (any, bool) {
	switch r := m.(type) {
	case *membershipv1.ListMembersResponse:
		out := make([]consul.AgentMember, len(r.Members))
		for i, mb := range r.Members {
			out[i] = consul.MemberFromProto(mb)
		}
		return out, true
	case *membershipv1.JoinResponse, *membershipv1.LeaveResponse, *membershipv1.ForceLeaveResponse:
		return emptyBody{}, true
	}
	return nil, false
}
