package httpapi

import (
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
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
