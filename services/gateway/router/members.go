package router

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
)

// ErrNoMembership is the answer to a gossip call when the gateway has no
// membership service to forward it to.
var ErrNoMembership = status.Error(codes.Unavailable, "No membership service: gossip is unavailable")

// Members is the router's MembershipService: it forwards each call to the
// agent's own membership service. Like /v1/agent, it is always the local
// agent's.
//
// Its methods are safe for concurrent use.
type Members struct {
	membershipv1.UnimplementedMembershipServiceServer

	// client is nil when no membership service is configured.
	client membershipv1.MembershipServiceClient
}

var _ membershipv1.MembershipServiceServer = (*Members)(nil)

func (m *Members) upstream() (membershipv1.MembershipServiceClient, error) {
	if m.client == nil {
		return nil, ErrNoMembership
	}
	return m.client, nil
}

// ListMembers forwards a member listing.
func (m *Members) ListMembers(ctx context.Context, req *membershipv1.ListMembersRequest) (*membershipv1.ListMembersResponse, error) {
	c, err := m.upstream()
	if err != nil {
		return nil, err
	}
	return c.ListMembers(ctx, req)
}

// Join forwards a join.
func (m *Members) Join(ctx context.Context, req *membershipv1.JoinRequest) (*membershipv1.JoinResponse, error) {
	c, err := m.upstream()
	if err != nil {
		return nil, err
	}
	return c.Join(ctx, req)
}

// Leave forwards a graceful leave.
func (m *Members) Leave(ctx context.Context, req *membershipv1.LeaveRequest) (*membershipv1.LeaveResponse, error) {
	c, err := m.upstream()
	if err != nil {
		return nil, err
	}
	return c.Leave(ctx, req)
}

// ForceLeave forwards a force-leave.
func (m *Members) ForceLeave(ctx context.Context, req *membershipv1.ForceLeaveRequest) (*membershipv1.ForceLeaveResponse, error) {
	c, err := m.upstream()
	if err != nil {
		return nil, err
	}
	return c.ForceLeave(ctx, req)
}

// ListDatacenters forwards a datacenter listing.
func (m *Members) ListDatacenters(ctx context.Context, req *membershipv1.ListDatacentersRequest) (*membershipv1.ListDatacentersResponse, error) {
	c, err := m.upstream()
	if err != nil {
		return nil, err
	}
	return c.ListDatacenters(ctx, req)
}

// WatchMembers forwards a member event stream.
func (m *Members) WatchMembers(req *membershipv1.WatchMembersRequest, stream membershipv1.MembershipService_WatchMembersServer) error {
	c, err := m.upstream()
	if err != nil {
		return err
	}
	up, err := c.WatchMembers(stream.Context(), req)
	if err != nil {
		return err
	}
	return relay(up, stream)
}

// ListCoordinates forwards a coordinate listing.
func (m *Members) ListCoordinates(ctx context.Context, req *membershipv1.ListCoordinatesRequest) (*membershipv1.ListCoordinatesResponse, error) {
	c, err := m.upstream()
	if err != nil {
		return nil, err
	}
	return c.ListCoordinates(ctx, req)
}
