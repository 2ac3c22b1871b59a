package router

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"
	"google.golang.org/grpc"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// coordAt is a coordinate d away from the origin on the first axis, as
// the membership service lists it.
func coordAt(node string, d time.Duration) *membershipv1.NodeCoordinate {
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	c.Vec[0] = d.Seconds()
	return &membershipv1.NodeCoordinate{Node: node, Coord: &membershipv1.Coordinate{
		Vec: c.Vec, Error: c.Error, Adjustment: c.Adjustment, Height: c.Height}}
}

func TestSortNear(t *testing.T) {
	// me is the agent; x is 10ms from it, y 2ms, z 5ms; nocoord has none;
	// odd has a coordinate of other dimensions, which cannot be compared.
	odd := coordAt("odd", time.Millisecond)
	odd.Coord.Vec = odd.Coord.Vec[:3]
	coords := &membershipv1.ListCoordinatesResponse{LocalNode: "me", Coordinates: []*membershipv1.NodeCoordinate{
		coordAt("me", 0), coordAt("x", 10*time.Millisecond), coordAt("y", 2*time.Millisecond),
		coordAt("z", 5*time.Millisecond), odd, {Node: "empty", Coord: &membershipv1.Coordinate{}},
	}}
	for _, tc := range []struct {
		name   string
		near   string
		coords *membershipv1.ListCoordinatesResponse
		in     []string
		want   []string
	}{
		{"the agent's node", "_agent", coords, []string{"x", "me", "z", "y"}, []string{"me", "y", "z", "x"}},
		{"a named node", "x", coords, []string{"me", "y", "x", "z"}, []string{"x", "z", "y", "me"}},
		{"the named node need not be listed", "z", coords, []string{"x", "y"}, []string{"y", "x"}},
		{
			"nodes without a usable coordinate last, in their order",
			"_agent", coords,
			[]string{"nocoord", "x", "odd", "empty", "y", "nocoord2"},
			[]string{"y", "x", "nocoord", "odd", "empty", "nocoord2"},
		},
		{"several entries of one node keep their order", "_agent", coords, []string{"x#1", "y", "x#2"}, []string{"y", "x#1", "x#2"}},
		{"a near node without a coordinate: unchanged", "nocoord", coords, []string{"x", "me", "y"}, []string{"x", "me", "y"}},
		{"an unknown near node: unchanged", "nope", coords, []string{"x", "me", "y"}, []string{"x", "me", "y"}},
		{"no coordinates at all: unchanged", "_agent", &membershipv1.ListCoordinatesResponse{LocalNode: "me"}, []string{"x", "y"}, []string{"x", "y"}},
		{"empty list", "_agent", coords, []string{}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := append([]string(nil), tc.in...)
			// Entries "node#n" are entries of node.
			node := func(s string) string {
				for i := range s {
					if s[i] == '#' {
						return s[:i]
					}
				}
				return s
			}
			sortNear(got, node, rttFrom(tc.near, tc.coords))
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// fakeCoords is a membership client that lists fixed coordinates.
type fakeCoords struct {
	membershipv1.MembershipServiceClient
	resp *membershipv1.ListCoordinatesResponse
}

func (f fakeCoords) ListCoordinates(context.Context, *membershipv1.ListCoordinatesRequest, ...grpc.CallOption) (*membershipv1.ListCoordinatesResponse, error) {
	return f.resp, nil
}

// TestRegistryNear: the gateway sorts the reads that take near, over gRPC
// as over HTTP, after the filter, and only reads of its own datacenter.
func TestRegistryNear(t *testing.T) {
	ctx := context.Background()
	// The agent is "me"; n2 is 1ms from it, n1 9ms.
	coords := fakeCoords{resp: &membershipv1.ListCoordinatesResponse{LocalNode: "me", Coordinates: []*membershipv1.NodeCoordinate{
		coordAt("me", 0), coordAt("n1", 9*time.Millisecond), coordAt("n2", time.Millisecond)}}}
	g := newRegistry(fixture())
	g.members = coords

	nodes := func(near, dc, filter string) []string {
		t.Helper()
		resp, err := g.ListNodes(ctx, &registryv1.ListNodesRequest{Near: near, Filter: filter,
			Options: &queryv1.QueryOptions{Datacenter: dc}})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range resp.Nodes {
			out = append(out, n.Node)
		}
		return out
	}
	for _, tc := range []struct {
		name, near, dc, filter string
		want                   []string
	}{
		{"no near: the registry's order", "", "", "", []string{"n1", "n2"}},
		{"near the agent", "_agent", "", "", []string{"n2", "n1"}},
		{"near the agent, its datacenter named", "_agent", "dc1", "", []string{"n2", "n1"}},
		{"near n1", "n1", "", "", []string{"n1", "n2"}},
		{"near a node without a coordinate", "n3", "", "", []string{"n1", "n2"}},
		{"filtered, then sorted", "_agent", "", `Node != ""`, []string{"n2", "n1"}},
	} {
		if got := nodes(tc.near, tc.dc, tc.filter); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}

	entries, err := g.ServiceHealth(ctx, &registryv1.ServiceHealthRequest{Service: "web", Near: "_agent"})
	if err != nil || len(entries.Entries) != 2 || entries.Entries[0].Node.Node != "n2" {
		t.Errorf("ServiceHealth near _agent: %v %v", entries, err)
	}
	inst, err := g.ServiceNodes(ctx, &registryv1.ServiceNodesRequest{Service: "web", Near: "_agent"})
	if err != nil || len(inst.Instances) != 2 || inst.Instances[0].Node.Node != "n2" {
		t.Errorf("ServiceNodes near _agent: %v %v", inst, err)
	}
	checks, err := g.ChecksInState(ctx, &registryv1.ChecksInStateRequest{State: "any", Near: "_agent"})
	if err != nil || len(checks.Checks) != 2 || checks.Checks[0].Node != "n2" {
		t.Errorf("ChecksInState near _agent: %v %v", checks, err)
	}

	// Without a membership service there is nothing to sort by.
	g.members = nil
	if got := nodes("_agent", "", ""); !reflect.DeepEqual(got, []string{"n1", "n2"}) {
		t.Errorf("without coordinates: %v", got)
	}
}

// TestWithoutNear: what another agent's gateway is sent has no near, and
// the caller's request keeps its own.
func TestWithoutNear(t *testing.T) {
	req := &registryv1.ServiceHealthRequest{Service: "web", Near: "_agent", Filter: "x"}
	out := withoutNear(req)
	if out.Near != "" || out.Service != "web" || out.Filter != "x" || req.Near != "_agent" {
		t.Errorf("withoutNear: %v from %v", out, req)
	}
	if nearOf(req) != "_agent" || nearOf(&registryv1.NodeChecksRequest{}) != "" {
		t.Error("nearOf")
	}
}
