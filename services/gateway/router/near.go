package router

import (
	"context"
	"math"
	"slices"

	"github.com/hashicorp/serf/coordinate"
	"google.golang.org/protobuf/proto"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
)

// The catalog and health reads that take near (Consul's ?near) are sorted
// here, by the gateway that answers the client, for the HTTP API and for
// gRPC alike: by the estimated round-trip time from the near node, which
// the agent's membership service knows from its LAN pool's network
// coordinates. The registry never sorts. A read of another datacenter is
// not sorted (LAN coordinates do not cross datacenters, and Consul's
// servers do not sort a read whose source is in another datacenter), and
// near is not passed on: the gateway that answers the client is the one
// whose "_agent" it names.

// nearAgent is near's name for the agent that answers (Consul's).
const nearAgent = "_agent"

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

// nearOf returns the near node of a read that takes one ("" otherwise).
func nearOf(req any) string {
	if r, ok := req.(interface{ GetNear() string }); ok {
		return r.GetNear()
	}
	return ""
}

// withoutNear returns a copy of req without its near field, to forward to
// a gateway that must not sort.
func withoutNear[Req proto.Message](req Req) Req {
	c := proto.Clone(req).(Req)
	m := c.ProtoReflect()
	if fd := m.Descriptor().Fields().ByName("near"); fd != nil {
		m.Clear(fd)
	}
	return c
}

// near returns the round-trip times that a read of datacenter dc sorts
// by, or nil when there is nothing to sort by: no near node, a read of
// another datacenter, no membership service, a near node without a
// coordinate, or coordinates that cannot be read (the read's answer is
// still good, in the registry's order).
func (g *Registry) near(ctx context.Context, origin, dc string) map[string]float64 {
	if origin == "" || g.members == nil || (dc != "" && dc != g.datacenter) {
		return nil
	}
	coords, err := g.members.ListCoordinates(ctx, &membershipv1.ListCoordinatesRequest{})
	if err != nil {
		return nil
	}
	return rttFrom(origin, coords)
}
