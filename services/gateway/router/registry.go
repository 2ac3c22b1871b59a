package router

import (
	"context"
	"errors"
	"slices"
	"sort"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/batch"
	"github.com/tribune/tribune/services/gateway/consul"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	regbatchv1 "github.com/tribune/tribune/sdk/go/tribune/registry/batch/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// ErrNoServers is the answer to a catalog call when the gateway has no
// registry to forward it to (Consul's text for an agent without servers).
var ErrNoServers = status.Error(codes.Unavailable, "No known Consul servers")

// Registry is the router's RegistryService: it checks the datacenter,
// forwards each call to the registry service, and applies the request's
// ?filter to what the registry returns (the registry does not filter).
// ListDatacenters it answers itself. It is a type apart from Router
// because both RegistryService and KVService have a Watch method.
//
// Its methods are safe for concurrent use.
type Registry struct {
	registryv1.UnimplementedRegistryServiceServer

	datacenter string
	// client is nil when no registry is configured.
	client registryv1.RegistryServiceClient
	// writes batches the registrations and deregistrations of this
	// datacenter (nil when client is).
	writes *batch.Batcher[*regbatchv1.Op, *regbatchv1.Result]
	// members, when set, knows the datacenters of the WAN pool.
	members membershipv1.MembershipServiceClient
	// remotes reaches the servers of other datacenters.
	remotes *remotes
}

var _ registryv1.RegistryServiceServer = (*Registry)(nil)

// validStates are the states /v1/health/state/:state takes.
var validStates = []string{"any", "passing", "warning", "critical"}

// upstream returns the registry of datacenter dc: the local one, or a
// server's of another datacenter.
func (g *Registry) upstream(ctx context.Context, dc string) (registryv1.RegistryServiceClient, error) {
	if g.remotes != nil {
		conn, err := g.remotes.conn(ctx, dc)
		if err != nil {
			return nil, err
		}
		if conn != nil {
			return registryv1.NewRegistryServiceClient(conn), nil
		}
	} else if dc != "" && dc != g.datacenter {
		return nil, ErrNoPathToDatacenter
	}
	if g.client == nil {
		if g.remotes == nil {
			return nil, ErrNoServers
		}
		conn, err := g.remotes.server(ctx)
		if err != nil {
			return nil, err
		}
		return registryv1.NewRegistryServiceClient(conn), nil
	}
	return g.client, nil
}

// matcher compiles a request's filter for elements of type T; a bad
// filter is the caller's mistake.
func matcher[T any](expr string) (*consul.Matcher[T], error) {
	m, err := consul.NewMatcher[T](expr)
	return m, filterStatus(err)
}

func filterStatus(err error) error {
	var fe *consul.FilterError
	if errors.As(err, &fe) {
		return status.Error(codes.InvalidArgument, fe.Error())
	}
	return err
}

// keep returns the elements of in whose Consul shape m matches.
func keep[P comparable, C any](m *consul.Matcher[C], in []P, shape func(P) C) ([]P, error) {
	if m == nil {
		return in, nil
	}
	var zero P
	out := make([]P, 0, len(in))
	for _, p := range in {
		if p == zero {
			continue
		}
		ok, err := m.Match(shape(p))
		if err != nil {
			return nil, filterStatus(err)
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// filterable is a catalog read that takes a filter.
type filterable interface {
	proto.Message
	GetFilter() string
	GetOptions() *queryv1.QueryOptions
}

// filtered forwards a catalog read to the registry of its datacenter and
// keeps, of the elements items points at, those that match the request's
// filter on their Consul shape C. A bad filter fails before the call.
// With node, the read takes near, and the elements kept are sorted by the
// round-trip time to their node (near.go).
func filtered[Req filterable, Resp any, P comparable, C any](ctx context.Context, g *Registry, req Req,
	call func(registryv1.RegistryServiceClient, context.Context, Req, ...grpc.CallOption) (Resp, error),
	items func(Resp) *[]P, shape func(P) C, node func(P) string) (Resp, error) {
	var none Resp
	dc := req.GetOptions().GetDatacenter()
	c, err := g.upstream(ctx, dc)
	if err != nil {
		return none, err
	}
	m, err := matcher[C](req.GetFilter())
	if err != nil {
		return none, err
	}
	near := nearOf(req)
	if near != "" && c != g.client {
		// Another agent's gateway answers: it must not sort by its own
		// idea of the near node (near.go).
		req = withoutNear(req)
	}
	resp, err := call(c, ctx, req)
	if err != nil {
		return none, err
	}
	in := items(resp)
	if *in, err = keep(m, *in, shape); err != nil {
		return none, err
	}
	if near != "" && node != nil {
		sortNear(*in, node, g.near(ctx, near, dc))
	}
	return resp, nil
}

// Register forwards a registration.
func (g *Registry) Register(ctx context.Context, req *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	if g.localWrite(req.GetOptions().GetDatacenter()) {
		res, err := write(ctx, g.writes, &regbatchv1.Op{Op: &regbatchv1.Op_Register{Register: req}})
		if err != nil {
			return nil, err
		}
		if res.GetRegister() == nil {
			return nil, status.Error(codes.Internal, "router: a registration's batch result is not a registration's")
		}
		return res.GetRegister(), nil
	}
	c, err := g.upstream(ctx, req.GetOptions().GetDatacenter())
	if err != nil {
		return nil, err
	}
	return c.Register(ctx, req)
}

// localWrite reports whether a catalog write for dc goes to this server's
// own registry, through the batches.
func (g *Registry) localWrite(dc string) bool {
	return g.writes != nil && (dc == "" || dc == g.datacenter)
}

// Deregister forwards a deregistration.
func (g *Registry) Deregister(ctx context.Context, req *registryv1.DeregisterRequest) (*registryv1.DeregisterResponse, error) {
	if g.localWrite(req.GetOptions().GetDatacenter()) {
		res, err := write(ctx, g.writes, &regbatchv1.Op{Op: &regbatchv1.Op_Deregister{Deregister: req}})
		if err != nil {
			return nil, err
		}
		if res.GetDeregister() == nil {
			return nil, status.Error(codes.Internal, "router: a deregistration's batch result is not a deregistration's")
		}
		return res.GetDeregister(), nil
	}
	c, err := g.upstream(ctx, req.GetOptions().GetDatacenter())
	if err != nil {
		return nil, err
	}
	return c.Deregister(ctx, req)
}

// ListDatacenters lists the datacenters this agent can reach: its own
// first, then those of the WAN pool by estimated round-trip time. Like
// Consul's, it needs no leader.
func (g *Registry) ListDatacenters(ctx context.Context, req *registryv1.ListDatacentersRequest) (*registryv1.ListDatacentersResponse, error) {
	if g.remotes != nil && g.remotes.viaServer && g.members != nil {
		// A client agent knows no WAN pool: a server of its datacenter
		// answers, or, with none reachable, its own datacenter alone.
		if conn, err := g.remotes.server(ctx); err == nil {
			if resp, err := registryv1.NewRegistryServiceClient(conn).ListDatacenters(ctx, req); err == nil {
				return resp, nil
			}
		}
		return &registryv1.ListDatacentersResponse{Datacenters: []string{g.datacenter}}, nil
	}
	if g.members == nil {
		return &registryv1.ListDatacentersResponse{Datacenters: []string{g.datacenter}}, nil
	}
	resp, err := g.members.ListDatacenters(ctx, &membershipv1.ListDatacentersRequest{})
	if err != nil {
		return nil, err
	}
	return &registryv1.ListDatacentersResponse{Datacenters: resp.Datacenters}, nil
}

// ListNodes forwards a node listing, filters it (selectors of Node) and
// sorts it by near.
func (g *Registry) ListNodes(ctx context.Context, req *registryv1.ListNodesRequest) (*registryv1.ListNodesResponse, error) {
	return filtered(ctx, g, req, registryv1.RegistryServiceClient.ListNodes,
		func(r *registryv1.ListNodesResponse) *[]*registryv1.Node { return &r.Nodes }, consul.NodeFromProto,
		(*registryv1.Node).GetNode)
}

// ListServices forwards a service listing. With a filter, Consul filters
// the instances (selectors of CatalogService: ServiceTags, NodeMeta, ...)
// and lists the services with an instance left, with the tags of those
// instances; the registry's listing has only names and tags, so each
// service's instances are read (with the listing's consistency, without
// blocking again) and filtered here.
func (g *Registry) ListServices(ctx context.Context, req *registryv1.ListServicesRequest) (*registryv1.ListServicesResponse, error) {
	c, err := g.upstream(ctx, req.GetOptions().GetDatacenter())
	if err != nil {
		return nil, err
	}
	m, err := matcher[*consul.CatalogService](req.GetFilter())
	if err != nil {
		return nil, err
	}
	resp, err := c.ListServices(ctx, req)
	if err != nil || m == nil {
		return resp, err
	}
	names := make([]string, 0, len(resp.GetServices()))
	for name := range resp.GetServices() {
		names = append(names, name)
	}
	sort.Strings(names)
	services := make(map[string]*registryv1.ServiceTags, len(names))
	for _, name := range names {
		sn, err := c.ServiceNodes(ctx, &registryv1.ServiceNodesRequest{
			Service:  name,
			NodeMeta: req.GetNodeMeta(),
			Options: &queryv1.QueryOptions{
				Datacenter:  req.GetOptions().GetDatacenter(),
				Consistency: req.GetOptions().GetConsistency(),
			},
		})
		if err != nil {
			return nil, err
		}
		kept, err := keep(m, sn.GetInstances(), consul.CatalogServiceFromProto)
		if err != nil {
			return nil, err
		}
		if len(kept) == 0 {
			continue
		}
		var tags []string
		for _, i := range kept {
			tags = append(tags, i.GetService().GetTags()...)
		}
		slices.Sort(tags)
		services[name] = &registryv1.ServiceTags{Tags: slices.Compact(tags)}
	}
	resp.Services = services
	return resp, nil
}

// ServiceNodes forwards an instance listing, filters it (selectors of
// CatalogService) and sorts it by near.
func (g *Registry) ServiceNodes(ctx context.Context, req *registryv1.ServiceNodesRequest) (*registryv1.ServiceNodesResponse, error) {
	return filtered(ctx, g, req, registryv1.RegistryServiceClient.ServiceNodes,
		func(r *registryv1.ServiceNodesResponse) *[]*registryv1.ServiceInstance { return &r.Instances }, consul.CatalogServiceFromProto,
		func(i *registryv1.ServiceInstance) string { return i.GetNode().GetNode() })
}

// NodeServices forwards a node read and filters its services (selectors
// of AgentService), as Consul filters the Services map.
func (g *Registry) NodeServices(ctx context.Context, req *registryv1.NodeServicesRequest) (*registryv1.NodeServicesResponse, error) {
	return filtered(ctx, g, req, registryv1.RegistryServiceClient.NodeServices,
		func(r *registryv1.NodeServicesResponse) *[]*registryv1.Service { return &r.Services }, consul.ServiceFromProto, nil)
}

// NodeChecks forwards a node's checks and filters them (selectors of
// HealthCheck).
func (g *Registry) NodeChecks(ctx context.Context, req *registryv1.NodeChecksRequest) (*registryv1.NodeChecksResponse, error) {
	return filtered(ctx, g, req, registryv1.RegistryServiceClient.NodeChecks,
		func(r *registryv1.NodeChecksResponse) *[]*registryv1.Check { return &r.Checks }, consul.CheckFromProto, nil)
}

// ServiceChecks forwards a service's checks, filters them and sorts them
// by near.
func (g *Registry) ServiceChecks(ctx context.Context, req *registryv1.ServiceChecksRequest) (*registryv1.ServiceChecksResponse, error) {
	return filtered(ctx, g, req, registryv1.RegistryServiceClient.ServiceChecks,
		func(r *registryv1.ServiceChecksResponse) *[]*registryv1.Check { return &r.Checks }, consul.CheckFromProto,
		(*registryv1.Check).GetNode)
}

// ChecksInState forwards a listing of the checks in one state (any,
// passing, warning or critical), filters it and sorts it by near.
func (g *Registry) ChecksInState(ctx context.Context, req *registryv1.ChecksInStateRequest) (*registryv1.ChecksInStateResponse, error) {
	if !slices.Contains(validStates, req.GetState()) {
		return nil, status.Errorf(codes.InvalidArgument,
			"Invalid check state %q: must be any, passing, warning or critical", req.GetState())
	}
	return filtered(ctx, g, req, registryv1.RegistryServiceClient.ChecksInState,
		func(r *registryv1.ChecksInStateResponse) *[]*registryv1.Check { return &r.Checks }, consul.CheckFromProto,
		(*registryv1.Check).GetNode)
}

// ServiceHealth forwards a service's health, filters the entries
// (selectors of ServiceEntry: Service.Tags, Node.Meta.x, Checks.Status)
// and sorts them by near.
func (g *Registry) ServiceHealth(ctx context.Context, req *registryv1.ServiceHealthRequest) (*registryv1.ServiceHealthResponse, error) {
	return filtered(ctx, g, req, registryv1.RegistryServiceClient.ServiceHealth,
		func(r *registryv1.ServiceHealthResponse) *[]*registryv1.ServiceHealthEntry { return &r.Entries }, consul.ServiceEntryFromProto,
		func(e *registryv1.ServiceHealthEntry) string { return e.GetNode().GetNode() })
}

// Watch forwards a catalog watch stream.
func (g *Registry) Watch(req *registryv1.WatchRequest, stream grpc.ServerStreamingServer[registryv1.WatchResponse]) error {
	c, err := g.upstream(stream.Context(), req.GetDatacenter())
	if err != nil {
		return err
	}
	up, err := c.Watch(stream.Context(), req)
	if err != nil {
		return err
	}
	return relay(up, stream)
}
