package httpapi

import (
	"context"
	"math"
	"slices"

	"github.com/hashicorp/serf/coordinate"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// nearAgent is ?near's name for the agent that answers (Consul's).
const nearAgent = "_agent"

// Coordinates is where ?near finds network coordinates: the agent's
// membership service, which lists the LAN pool's coordinates as its
// gossip last heard them.
type Coordinates interface {
	ListCoordinates(context.Context, *membershipv1.ListCoordinatesRequest) (*membershipv1.ListCoordinatesResponse, error)
}

// fromProto converts a coordinate of the API to serf's; nil when it has
// no vector.
func fromProto(c *membershipv1.Coordinate) *coordinate.Coordinate {
	if c == nil || len(c.GetVec()) == 0 {
		return nil
	}
	return &coordinate.Coordinate{Vec: slices.Clone(c.GetVec()), Error: c.GetError(),
		Adjustment: c.GetAdjustment(), Height: c.GetHeight()}
}

// rttFrom returns, for each node with a usable coordinate, the estimated
// round-trip time in seconds from origin's coordinate (Consul's
// lib.ComputeDistance, serf's DistanceTo). It is nil when origin has no
// coordinate: there is nothing to sort by.
func rttFrom(origin string, coords *membershipv1.ListCoordinatesResponse) map[string]float64 {
	if origin == nearAgent {
		origin = coords.GetLocalNode()
	}
	all := make(map[string]*coordinate.Coordinate, len(coords.GetCoordinates()))
	for _, nc := range coords.GetCoordinates() {
		if c := fromProto(nc.GetCoord()); c != nil && c.IsValid() {
			all[nc.GetNode()] = c
		}
	}
	from, ok := all[origin]
	if !ok {
		return nil
	}
	rtt := make(map[string]float64, len(all))
	for node, c := range all {
		if from.IsCompatibleWith(c) {
			rtt[node] = from.DistanceTo(c).Seconds()
		}
	}
	return rtt
}

// sortNear orders items by the estimated round-trip time to their node,
// nearest first, as Consul's ?near does: stable, and the items whose node
// has no coordinate last, in the order they came. A nil rtt changes
// nothing.
func sortNear[T any](items []T, node func(T) string, rtt map[string]float64) {
	if rtt == nil {
		return
	}
	dist := func(t T) float64 {
		if d, ok := rtt[node(t)]; ok {
			return d
		}
		return math.Inf(1)
	}
	slices.SortStableFunc(items, func(a, b T) int {
		da, db := dist(a), dist(b)
		switch {
		case da < db:
			return -1
		case da > db:
			return 1
		}
		return 0
	})
}

// near returns the round-trip times for the request's ?near, or nil when
// there is none, or nothing to sort by: no membership service, a read of
// another datacenter (LAN coordinates do not cross datacenters; Consul's
// servers do not sort then either), a node without a coordinate, or
// coordinates that cannot be read (the read's answer is still good).
func (s registryHTTP) near(ctx context.Context, o interface{ GetDatacenter() string }) map[string]float64 {
	r := requestFrom(ctx)
	if r == nil || s.coords == nil {
		return nil
	}
	origin := r.URL.Query().Get("near")
	if origin == "" {
		return nil
	}
	if dc := o.GetDatacenter(); dc != "" && s.datacenter != "" && dc != s.datacenter {
		return nil
	}
	coords, err := s.coords.ListCoordinates(ctx, &membershipv1.ListCoordinatesRequest{})
	if err != nil {
		return nil
	}
	return rttFrom(origin, coords)
}

func nodeName(n *registryv1.Node) string { return n.GetNode() }

// The reads that take ?near: the registry's answer, sorted.

func (s registryHTTP) ListNodes(ctx context.Context, req *registryv1.ListNodesRequest) (*registryv1.ListNodesResponse, error) {
	resp, err := s.RegistryServiceServer.ListNodes(ctx, req)
	if err == nil {
		sortNear(resp.Nodes, nodeName, s.near(ctx, req.GetOptions()))
	}
	return resp, err
}

func (s registryHTTP) ServiceNodes(ctx context.Context, req *registryv1.ServiceNodesRequest) (*registryv1.ServiceNodesResponse, error) {
	resp, err := s.RegistryServiceServer.ServiceNodes(ctx, req)
	if err == nil {
		sortNear(resp.Instances, func(i *registryv1.ServiceInstance) string { return i.GetNode().GetNode() }, s.near(ctx, req.GetOptions()))
	}
	return resp, err
}

func (s registryHTTP) ServiceHealth(ctx context.Context, req *registryv1.ServiceHealthRequest) (*registryv1.ServiceHealthResponse, error) {
	resp, err := s.RegistryServiceServer.ServiceHealth(ctx, req)
	if err == nil {
		sortNear(resp.Entries, func(e *registryv1.ServiceHealthEntry) string { return e.GetNode().GetNode() }, s.near(ctx, req.GetOptions()))
	}
	return resp, err
}

func (s registryHTTP) ServiceChecks(ctx context.Context, req *registryv1.ServiceChecksRequest) (*registryv1.ServiceChecksResponse, error) {
	resp, err := s.RegistryServiceServer.ServiceChecks(ctx, req)
	if err == nil {
		sortNear(resp.Checks, (*registryv1.Check).GetNode, s.near(ctx, req.GetOptions()))
	}
	return resp, err
}

func (s registryHTTP) ChecksInState(ctx context.Context, req *registryv1.ChecksInStateRequest) (*registryv1.ChecksInStateResponse, error) {
	resp, err := s.RegistryServiceServer.ChecksInState(ctx, req)
	if err == nil {
		sortNear(resp.Checks, (*registryv1.Check).GetNode, s.near(ctx, req.GetOptions()))
	}
	return resp, err
}
