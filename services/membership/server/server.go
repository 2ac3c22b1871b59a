// Package server is the membership service's gRPC server: MembershipService
// over the agent's gossip pools (membership.Agent), as Consul's
// /v1/agent/members, join, leave and force-leave, and
// /v1/catalog/datacenters see them.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
)

// Pool is one gossip pool: what the server needs of a *serf.Serf. All
// methods are safe for concurrent use.
type Pool interface {
	Members() []serf.Member
	LocalMember() serf.Member
	Join(existing []string, ignoreOld bool) (int, error)
	RemoveFailedNode(node string) error
	RemoveFailedNodePrune(node string) error
	// GetCoordinate returns this agent's network coordinate in the pool;
	// GetCachedCoordinate another member's, as last heard.
	GetCoordinate() (*coordinate.Coordinate, error)
	GetCachedCoordinate(name string) (*coordinate.Coordinate, bool)
	EncryptionEnabled() bool
}

var _ Pool = (*serf.Serf)(nil)

// Subscription is a stream of a pool's member events. Events is closed
// when the subscription ends: Err then says why (nil after Close).
type Subscription interface {
	Events() <-chan serf.MemberEvent
	Err() error
	Close()
}

// Agent is the agent's gossip layer (membership.Agent). All methods are
// safe for concurrent use.
type Agent interface {
	// Pool returns the LAN or the WAN pool; ok is false for the WAN pool
	// of a client agent, which has none.
	Pool(wan bool) (p Pool, ok bool)
	// DefaultPort is the port a join address without one gets.
	DefaultPort(wan bool) int
	// Datacenter is the agent's datacenter.
	Datacenter() string
	// Subscribe streams the pool's member events from now on.
	Subscribe(wan bool) (Subscription, error)
	// Leave leaves the pools gracefully, the WAN pool first, and returns
	// when done or when ctx ends.
	Leave(ctx context.Context) error
}

// Errors the server returns, made once and translated to gRPC codes by
// toStatus.
var (
	// ErrNotServer: the WAN pool exists on servers only (Consul's words).
	ErrNotServer = errors.New("Must be a server to join WAN cluster")
	// ErrBadAddress: a join address cannot be parsed.
	ErrBadAddress = errors.New("invalid address")
	// ErrJoin: none of the join addresses could be joined.
	ErrJoin = errors.New("failed to join")
	// ErrNoSuchNode: force-leave of a node the pool does not know.
	ErrNoSuchNode = errors.New("no node found")
	// ErrBadRequest: a required field is missing.
	ErrBadRequest = errors.New("bad request")
)

// toStatus translates the server's errors to gRPC statuses: the single
// place where codes are chosen.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ErrBadAddress), errors.Is(err, ErrBadRequest):
		code = codes.InvalidArgument
	case errors.Is(err, ErrNotServer):
		code = codes.FailedPrecondition
	case errors.Is(err, ErrJoin):
		code = codes.Unavailable
	case errors.Is(err, ErrNoSuchNode):
		code = codes.NotFound
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}

// Server implements MembershipService.
type Server struct {
	membershipv1.UnimplementedMembershipServiceServer

	agent Agent
}

// New returns a Server over agent.
func New(agent Agent) (*Server, error) {
	if agent == nil {
		return nil, errors.New("server: agent is required")
	}
	return &Server{agent: agent}, nil
}

// AddTo adds the server's services to g.
func (s *Server) AddTo(g grpc.ServiceRegistrar) {
	membershipv1.RegisterMembershipServiceServer(g, s)
}

// ToMember converts a serf member to the API's: Consul's /v1/agent/members
// fields, its status numbered as serf numbers it (1 alive, 2 leaving,
// 3 left, 4 failed), Tags never nil.
func ToMember(m serf.Member) *membershipv1.Member {
	tags := make(map[string]string, len(m.Tags))
	for k, v := range m.Tags {
		tags[k] = v
	}
	addr := ""
	if m.Addr != nil {
		addr = m.Addr.String()
	}
	return &membershipv1.Member{
		Name:        m.Name,
		Addr:        addr,
		Port:        int32(m.Port),
		Tags:        tags,
		Status:      membershipv1.MemberStatus(m.Status),
		ProtocolMin: int32(m.ProtocolMin),
		ProtocolMax: int32(m.ProtocolMax),
		ProtocolCur: int32(m.ProtocolCur),
		DelegateMin: int32(m.DelegateMin),
		DelegateMax: int32(m.DelegateMax),
		DelegateCur: int32(m.DelegateCur),
	}
}

func sortedMembers(ms []serf.Member) []serf.Member {
	slices.SortFunc(ms, func(a, b serf.Member) int { return cmp.Compare(a.Name, b.Name) })
	return ms
}

// ListMembers lists a pool's members by name. The WAN pool of a client is
// empty, as in Consul.
func (s *Server) ListMembers(_ context.Context, req *membershipv1.ListMembersRequest) (*membershipv1.ListMembersResponse, error) {
	p, ok := s.agent.Pool(req.Wan)
	if !ok {
		return &membershipv1.ListMembersResponse{}, nil
	}
	ms := sortedMembers(p.Members())
	out := make([]*membershipv1.Member, len(ms))
	for i, m := range ms {
		out[i] = ToMember(m)
	}
	return &membershipv1.ListMembersResponse{Members: out}, nil
}

// NormalizeAddress returns addr as host:port, with defaultPort when it has
// none. It accepts "host", "host:port", "[v6]", "[v6]:port" and a bare IPv6
// address.
func NormalizeAddress(addr string, defaultPort int) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", fmt.Errorf("%w: empty address", ErrBadAddress)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: a host name, an IPv4 address, a bracketed or a bare
		// IPv6 address.
		host, port = addr, strconv.Itoa(defaultPort)
		if h, ok := strings.CutPrefix(host, "["); ok {
			h, ok = strings.CutSuffix(h, "]")
			if !ok {
				return "", fmt.Errorf("%w %q: unclosed '['", ErrBadAddress, addr)
			}
			host = h
		}
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return "", fmt.Errorf("%w %q: %v", ErrBadAddress, addr, err)
		}
	}
	if host == "" || strings.ContainsAny(host, "[]/ ") {
		return "", fmt.Errorf("%w %q: no host", ErrBadAddress, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%w %q: port %q is not 1-65535", ErrBadAddress, addr, port)
	}
	return net.JoinHostPort(host, port), nil
}

// Join joins the pool through the agents at the addresses and says how
// many were joined; it fails only when none was.
func (s *Server) Join(_ context.Context, req *membershipv1.JoinRequest) (*membershipv1.JoinResponse, error) {
	n, err := s.join(req.Addresses, req.Wan)
	if err != nil {
		return nil, toStatus(err)
	}
	return &membershipv1.JoinResponse{Joined: int32(n)}, nil
}

func (s *Server) join(addrs []string, wan bool) (int, error) {
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: addresses: at least one address is required", ErrBadRequest)
	}
	p, ok := s.agent.Pool(wan)
	if !ok {
		return 0, ErrNotServer
	}
	norm := make([]string, len(addrs))
	for i, a := range addrs {
		var err error
		if norm[i], err = NormalizeAddress(a, s.agent.DefaultPort(wan)); err != nil {
			return 0, err
		}
	}
	n, err := p.Join(norm, true) // ignoreOld as Consul: old user events are not replayed
	if n == 0 {
		if err == nil {
			err = errors.New("no agent answered")
		}
		hint := ""
		if p.EncryptionEnabled() {
			hint = " (if an agent runs there, check that it uses the same -encrypt key)"
		}
		if len(norm) == 1 {
			return 0, fmt.Errorf("%w %s: %s%s", ErrJoin, norm[0], joinDetail(err, true), hint)
		}
		return 0, fmt.Errorf("%w any of %s: %s%s", ErrJoin, strings.Join(norm, ", "), joinDetail(err, false), hint)
	}
	return n, nil
}

// joinDetail flattens memberlist's join errors (a multierror of "failed
// to join ADDR: why") to one line: "why" for a single address, else
// "ADDR: why; ADDR: why".
func joinDetail(err error, single bool) string {
	errs := []error{err}
	if w, ok := err.(interface{ WrappedErrors() []error }); ok && len(w.WrappedErrors()) > 0 {
		errs = w.WrappedErrors()
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		msg := strings.TrimPrefix(e.Error(), "failed to join ")
		if single && len(errs) == 1 && msg != e.Error() {
			if _, why, ok := strings.Cut(msg, ": "); ok {
				msg = why
			}
		}
		parts[i] = msg
	}
	return strings.Join(parts, "; ")
}

// Leave leaves both pools gracefully; the agent then stops.
func (s *Server) Leave(ctx context.Context, _ *membershipv1.LeaveRequest) (*membershipv1.LeaveResponse, error) {
	if err := s.agent.Leave(ctx); err != nil {
		return nil, toStatus(err)
	}
	return &membershipv1.LeaveResponse{}, nil
}

// ForceLeave moves a failed member to left now, instead of after the
// reconnect timeout; with prune, it forgets the member entirely.
func (s *Server) ForceLeave(_ context.Context, req *membershipv1.ForceLeaveRequest) (*membershipv1.ForceLeaveResponse, error) {
	if req.Node == "" {
		return nil, toStatus(fmt.Errorf("%w: node: a node name is required", ErrBadRequest))
	}
	p, ok := s.agent.Pool(req.Wan)
	if !ok {
		return nil, toStatus(ErrNotServer)
	}
	if !slices.ContainsFunc(p.Members(), func(m serf.Member) bool { return m.Name == req.Node }) {
		return nil, toStatus(fmt.Errorf("%w with name %q", ErrNoSuchNode, req.Node))
	}
	remove := p.RemoveFailedNode
	if req.Prune {
		remove = p.RemoveFailedNodePrune
	}
	if err := remove(req.Node); err != nil {
		return nil, toStatus(fmt.Errorf("force-leave %q: %w", req.Node, err))
	}
	return &membershipv1.ForceLeaveResponse{}, nil
}

var eventTypes = map[serf.EventType]membershipv1.MemberEvent_Type{
	serf.EventMemberJoin:   membershipv1.MemberEvent_TYPE_JOIN,
	serf.EventMemberLeave:  membershipv1.MemberEvent_TYPE_LEAVE,
	serf.EventMemberFailed: membershipv1.MemberEvent_TYPE_FAILED,
	serf.EventMemberUpdate: membershipv1.MemberEvent_TYPE_UPDATE,
	serf.EventMemberReap:   membershipv1.MemberEvent_TYPE_REAP,
}

// WatchMembers streams the pool's current members as TYPE_JOIN events,
// then its member events as serf delivers them. An event may repeat what
// the first message said (a join that happened while it was read).
func (s *Server) WatchMembers(req *membershipv1.WatchMembersRequest, stream membershipv1.MembershipService_WatchMembersServer) error {
	p, ok := s.agent.Pool(req.Wan)
	if !ok {
		return toStatus(ErrNotServer)
	}
	// Subscribe first so that nothing between the listing and the events
	// is missed.
	sub, err := s.agent.Subscribe(req.Wan)
	if err != nil {
		return toStatus(err)
	}
	defer sub.Close()
	ms := sortedMembers(p.Members())
	first := &membershipv1.WatchMembersResponse{Events: make([]*membershipv1.MemberEvent, len(ms))}
	for i, m := range ms {
		first.Events[i] = &membershipv1.MemberEvent{Type: membershipv1.MemberEvent_TYPE_JOIN, Member: ToMember(m)}
	}
	if err := stream.Send(first); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return toStatus(ctx.Err())
		case ev, ok := <-sub.Events():
			if !ok {
				if err := sub.Err(); err != nil {
					return status.Error(codes.Unavailable, err.Error())
				}
				return nil
			}
			resp := &membershipv1.WatchMembersResponse{Events: make([]*membershipv1.MemberEvent, len(ev.Members))}
			for i, m := range ev.Members {
				resp.Events[i] = &membershipv1.MemberEvent{Type: eventTypes[ev.Type], Member: ToMember(m)}
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
	}
}

// ListDatacenters lists the local datacenter, then the others of the WAN
// pool by the median estimated round-trip time to their servers.
func (s *Server) ListDatacenters(context.Context, *membershipv1.ListDatacentersRequest) (*membershipv1.ListDatacentersResponse, error) {
	local := s.agent.Datacenter()
	p, ok := s.agent.Pool(true)
	if !ok {
		return &membershipv1.ListDatacentersResponse{Datacenters: []string{local}}, nil
	}
	return &membershipv1.ListDatacentersResponse{Datacenters: DatacentersByDistance(local, p)}, nil
}

// ToCoordinate converts a serf coordinate to the API's.
func ToCoordinate(c *coordinate.Coordinate) *membershipv1.Coordinate {
	return &membershipv1.Coordinate{
		Vec:        slices.Clone(c.Vec),
		Error:      c.Error,
		Adjustment: c.Adjustment,
		Height:     c.Height,
	}
}

// ListCoordinates lists the network coordinates of the pool's members, by
// name: this agent's own, and the others' as serf last heard them in
// probe acknowledgements. Members without one (not probed yet) are left
// out, as Consul leaves out nodes without coordinates. A client's WAN
// pool has none.
func (s *Server) ListCoordinates(_ context.Context, req *membershipv1.ListCoordinatesRequest) (*membershipv1.ListCoordinatesResponse, error) {
	p, ok := s.agent.Pool(req.Wan)
	if !ok {
		return &membershipv1.ListCoordinatesResponse{}, nil
	}
	self := p.LocalMember().Name
	ms := sortedMembers(p.Members())
	out := make([]*membershipv1.NodeCoordinate, 0, len(ms))
	for _, m := range ms {
		var c *coordinate.Coordinate
		if m.Name == self {
			c, _ = p.GetCoordinate() // an error only when coordinates are disabled
		} else {
			c, _ = p.GetCachedCoordinate(m.Name)
		}
		if c == nil || m.Status == serf.StatusLeft {
			continue
		}
		out = append(out, &membershipv1.NodeCoordinate{Node: m.Name, Coord: ToCoordinate(c)})
	}
	return &membershipv1.ListCoordinatesResponse{Coordinates: out, LocalNode: self}, nil
}
