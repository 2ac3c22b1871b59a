package server

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	"github.com/tribune/tribune/services/membership/tags"
)

func TestNormalizeAddress(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"10.0.0.1", "10.0.0.1:8301", true},
		{"10.0.0.1:9000", "10.0.0.1:9000", true},
		{" consul.example.com ", "consul.example.com:8301", true},
		{"consul.example.com:1", "consul.example.com:1", true},
		{"::1", "[::1]:8301", true},
		{"[::1]", "[::1]:8301", true},
		{"[::1]:9000", "[::1]:9000", true},
		{"", "", false},
		{"[::1", "", false},
		{"10.0.0.1:0", "", false},
		{"10.0.0.1:65536", "", false},
		{"10.0.0.1:x", "", false},
		{":8301", "", false},
		{"a:b:c", "", false},
		{"name/10.0.0.1", "", false},
	} {
		got, err := NormalizeAddress(tc.in, 8301)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrBadAddress) || status.Code(toStatus(err)) != codes.InvalidArgument) {
			t.Errorf("NormalizeAddress(%q): %v is not a bad-address error", tc.in, err)
		}
	}
}

// fakePool is a WAN pool with fixed members and coordinates.
type fakePool struct {
	Pool
	self    *coordinate.Coordinate
	members []serf.Member
	coords  map[string]*coordinate.Coordinate
}

func (p *fakePool) Members() []serf.Member { return p.members }
func (p *fakePool) GetCoordinate() (*coordinate.Coordinate, error) {
	if p.self == nil {
		return nil, errors.New("no coordinate")
	}
	return p.self, nil
}
func (p *fakePool) GetCachedCoordinate(name string) (*coordinate.Coordinate, bool) {
	c, ok := p.coords[name]
	return c, ok
}

// at returns a coordinate d away from the origin on the first axis.
func at(d time.Duration) *coordinate.Coordinate {
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	c.Vec[0] = d.Seconds()
	c.Height = 0
	return c
}

func wanServer(node, dc string, st serf.MemberStatus) serf.Member {
	return serf.Member{Name: node + "." + dc, Status: st, Tags: map[string]string{tags.Role: tags.RoleServer, tags.Datacenter: dc}}
}

func TestDatacentersByDistance(t *testing.T) {
	alive, failed, left := serf.StatusAlive, serf.StatusFailed, serf.StatusLeft
	ms := func(list ...serf.Member) []serf.Member { return list }
	for _, tc := range []struct {
		name    string
		self    *coordinate.Coordinate
		members []serf.Member
		coords  map[string]*coordinate.Coordinate
		want    []string
	}{
		{"alone", at(0), ms(wanServer("s1", "dc1", alive)), nil, []string{"dc1"}},
		{
			"by median rtt",
			at(0),
			ms(wanServer("s1", "dc1", alive),
				wanServer("a", "far", alive), wanServer("b", "far", alive), wanServer("c", "far", alive),
				wanServer("a", "near", alive), wanServer("b", "near", alive), wanServer("c", "near", alive)),
			map[string]*coordinate.Coordinate{
				// near has one slow server, far one fast: the median decides.
				"a.far": at(5 * time.Millisecond), "b.far": at(90 * time.Millisecond), "c.far": at(100 * time.Millisecond),
				"a.near": at(10 * time.Millisecond), "b.near": at(20 * time.Millisecond), "c.near": at(900 * time.Millisecond),
			},
			[]string{"dc1", "near", "far"},
		},
		{
			"without coordinates by name, after those with",
			at(0),
			ms(wanServer("s1", "dc1", alive), wanServer("x", "zeta", alive), wanServer("x", "alpha", alive), wanServer("x", "mid", alive)),
			map[string]*coordinate.Coordinate{"x.zeta": at(time.Millisecond)},
			[]string{"dc1", "zeta", "alpha", "mid"},
		},
		{
			"no local coordinate: by name",
			nil,
			ms(wanServer("x", "dc3", alive), wanServer("x", "dc2", alive), wanServer("s1", "dc1", alive)),
			map[string]*coordinate.Coordinate{"x.dc3": at(time.Millisecond), "x.dc2": at(time.Second)},
			[]string{"dc1", "dc2", "dc3"},
		},
		{
			"failed servers count, left ones and clients do not",
			at(0),
			ms(wanServer("x", "dc2", failed), wanServer("x", "gone", left),
				serf.Member{Name: "c.dc9", Status: alive, Tags: map[string]string{tags.Role: tags.RoleClient, tags.Datacenter: "dc9"}}),
			nil,
			[]string{"dc1", "dc2"},
		},
		{
			"dc from the name without a dc tag",
			at(0),
			ms(serf.Member{Name: "x.dc7", Status: alive, Tags: map[string]string{tags.Role: tags.RoleServer}}),
			nil,
			[]string{"dc1", "dc7"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DatacentersByDistance("dc1", &fakePool{self: tc.self, members: tc.members, coords: tc.coords})
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// fakeAgent is a client agent: a LAN pool only.
type fakeAgent struct {
	Agent
	lan Pool
}

func (a *fakeAgent) Pool(wan bool) (Pool, bool) { return a.lan, !wan }
func (a *fakeAgent) DefaultPort(bool) int       { return 8301 }
func (a *fakeAgent) Datacenter() string         { return "dc1" }

type joinPool struct {
	fakePool
	joined []string
	err    error
}

func (p *joinPool) Join(addrs []string, _ bool) (int, error) {
	p.joined = addrs
	if p.err != nil {
		return 0, p.err
	}
	return len(addrs), nil
}
func (p *joinPool) EncryptionEnabled() bool { return true }

func TestJoinTranslation(t *testing.T) {
	ctx := context.Background()
	p := &joinPool{}
	s, err := New(&fakeAgent{lan: p})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Join(ctx, &membershipv1.JoinRequest{Addresses: []string{"10.0.0.1", "[::1]:9"}})
	if err != nil || resp.Joined != 2 || !reflect.DeepEqual(p.joined, []string{"10.0.0.1:8301", "[::1]:9"}) {
		t.Fatalf("join: %v, %v, addresses %v", resp, err, p.joined)
	}
	p.err = &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	_, err = s.Join(ctx, &membershipv1.JoinRequest{Addresses: []string{"10.0.0.1"}})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "10.0.0.1:8301") || !strings.Contains(err.Error(), "-encrypt") {
		t.Fatalf("failed join: %v", err)
	}
	for _, call := range []func() error{
		func() error {
			_, err := s.Join(ctx, &membershipv1.JoinRequest{Addresses: []string{"10.0.0.1"}, Wan: true})
			return err
		},
		func() error {
			_, err := s.ForceLeave(ctx, &membershipv1.ForceLeaveRequest{Node: "x.dc1", Wan: true})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("WAN call on a client: %v", err)
		}
	}
	dcs, err := s.ListDatacenters(ctx, &membershipv1.ListDatacentersRequest{})
	if err != nil || !reflect.DeepEqual(dcs.Datacenters, []string{"dc1"}) {
		t.Errorf("client datacenters: %v, %v", dcs, err)
	}
}

func TestToMemberStatusNumbers(t *testing.T) {
	for st, want := range map[serf.MemberStatus]membershipv1.MemberStatus{
		serf.StatusAlive: 1, serf.StatusLeaving: 2, serf.StatusLeft: 3, serf.StatusFailed: 4,
	} {
		m := ToMember(serf.Member{Name: "n", Status: st})
		if m.Status != want || m.Tags == nil {
			t.Errorf("%v: %v, tags %v", st, m.Status, m.Tags)
		}
	}
}

// localPool is a fakePool that knows which member is this agent.
type localPool struct {
	fakePool
	local string
}

func (p *localPool) LocalMember() serf.Member { return serf.Member{Name: p.local} }

func TestListCoordinates(t *testing.T) {
	ctx := context.Background()
	member := func(name string, st serf.MemberStatus) serf.Member { return serf.Member{Name: name, Status: st} }
	p := &localPool{local: "me", fakePool: fakePool{
		self: at(0),
		members: []serf.Member{member("zed", serf.StatusAlive), member("me", serf.StatusAlive), member("new", serf.StatusAlive),
			member("gone", serf.StatusLeft), member("dead", serf.StatusFailed)},
		coords: map[string]*coordinate.Coordinate{"zed": at(2 * time.Millisecond), "gone": at(time.Millisecond), "dead": at(3 * time.Millisecond)},
	}}
	s, err := New(&fakeAgent{lan: p})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.ListCoordinates(ctx, &membershipv1.ListCoordinatesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// By name; the member never probed ("new") and the one that left are
	// left out; a failed member keeps its last coordinate, as in Consul.
	var got []string
	for _, c := range resp.Coordinates {
		got = append(got, c.Node)
	}
	if !reflect.DeepEqual(got, []string{"dead", "me", "zed"}) || resp.LocalNode != "me" {
		t.Fatalf("coordinates of %v from %q, want dead, me, zed from me", got, resp.LocalNode)
	}
	if c := resp.Coordinates[2].Coord; c.Vec[0] != 0.002 || len(c.Vec) != 8 || c.Error != at(0).Error {
		t.Errorf("zed's coordinate: %v", c)
	}
	wan, err := s.ListCoordinates(ctx, &membershipv1.ListCoordinatesRequest{Wan: true})
	if err != nil || len(wan.Coordinates) != 0 {
		t.Errorf("a client's WAN coordinates: %v %v", wan, err)
	}
}
