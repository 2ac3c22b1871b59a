package server

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"

	"github.com/tribune/tribune/services/membership/tags"
)

// memberDatacenter is the datacenter of a WAN member: its dc tag, or the
// suffix of its "<node>.<dc>" name.
func memberDatacenter(m serf.Member) string {
	if dc := m.Tags[tags.Datacenter]; dc != "" {
		return dc
	}
	if i := strings.LastIndexByte(m.Name, '.'); i >= 0 {
		return m.Name[i+1:]
	}
	return ""
}

// distance is the estimated round-trip time between two coordinates in
// seconds, infinite when either is unknown or they are of different
// spaces (Consul's lib.ComputeDistance).
func distance(a, b *coordinate.Coordinate) float64 {
	if a == nil || b == nil || !a.IsCompatibleWith(b) {
		return math.Inf(1)
	}
	return a.DistanceTo(b).Seconds()
}

// median of rtts, which it sorts; infinite when empty.
func median(rtts []float64) float64 {
	if len(rtts) == 0 {
		return math.Inf(1)
	}
	slices.Sort(rtts)
	i := len(rtts) / 2
	if len(rtts)%2 == 0 {
		return (rtts[i-1] + rtts[i]) / 2
	}
	return rtts[i]
}

// DatacentersByDistance lists the datacenters of a WAN pool as Consul's
// Router.GetDatacentersByDistance does: local first (distance 0), then the
// others by the median estimated RTT from this server's coordinate to
// their servers' coordinates, ties and datacenters without coordinates by
// name. Servers that left do not count; failed ones still do, as in
// Consul, until they are reaped.
func DatacentersByDistance(local string, wan Pool) []string {
	self, err := wan.GetCoordinate()
	if err != nil {
		self = nil
	}
	rtts := map[string][]float64{}
	for _, m := range wan.Members() {
		if !tags.IsServer(m) || m.Status == serf.StatusLeft || m.Status == serf.StatusNone {
			continue
		}
		dc := memberDatacenter(m)
		if dc == "" || dc == local {
			continue
		}
		other, _ := wan.GetCachedCoordinate(m.Name)
		rtts[dc] = append(rtts[dc], distance(self, other))
	}
	type dcDist struct {
		name string
		rtt  float64
	}
	others := make([]dcDist, 0, len(rtts))
	for dc, r := range rtts {
		others = append(others, dcDist{dc, median(r)})
	}
	slices.SortFunc(others, func(a, b dcDist) int {
		return cmp.Or(cmp.Compare(a.rtt, b.rtt), cmp.Compare(a.name, b.name))
	})
	out := make([]string, 0, 1+len(others))
	out = append(out, local)
	for _, d := range others {
		out = append(out, d.name)
	}
	return out
}
