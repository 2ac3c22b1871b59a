package gateway_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/coordinate"
	"google.golang.org/grpc"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/gateway/httpapi"
	"github.com/tribune/tribune/services/gateway/router"
)

// fakeCoordinates is a membership service whose LAN pool has fixed
// coordinates: each node d away from the origin on the first axis.
type fakeCoordinates struct {
	membershipv1.UnimplementedMembershipServiceServer
	local string
	at    map[string]time.Duration
}

func (f *fakeCoordinates) ListCoordinates(context.Context, *membershipv1.ListCoordinatesRequest) (*membershipv1.ListCoordinatesResponse, error) {
	resp := &membershipv1.ListCoordinatesResponse{LocalNode: f.local}
	for node, d := range f.at {
		c := coordinate.NewCoordinate(coordinate.DefaultConfig())
		c.Vec[0] = d.Seconds()
		resp.Coordinates = append(resp.Coordinates, &membershipv1.NodeCoordinate{Node: node,
			Coord: &membershipv1.Coordinate{Vec: c.Vec, Error: c.Error, Adjustment: c.Adjustment, Height: c.Height}})
	}
	return resp, nil
}

// nearServer serves the /v1 API in front of the fake registry, with the
// fake coordinates behind the membership service.
func nearServer(t *testing.T, fake *fakeRegistry, coords *fakeCoordinates) *api.Client {
	t.Helper()
	conn := serveInMemory(t, func(gs *grpc.Server) {
		registryv1.RegisterRegistryServiceServer(gs, fake)
		membershipv1.RegisterMembershipServiceServer(gs, coords)
	})
	rt, err := router.New("dc1", conn, router.WithRegistry(conn), router.WithMembership(conn))
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(context.Background(), httpapi.Config{MaxValueSize: 1 << 10, Datacenter: "dc1"},
		httpapi.Services{KV: rt, Status: rt, Registry: rt.Registry(), Agent: rt.Agent(), Members: rt.Members()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := api.DefaultConfig()
	cfg.Address = srv.Listener.Addr().String()
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHTTPNear: ?near sorts the five reads that take it by the estimated
// round-trip time from the named node, or from the agent's node for
// _agent; nodes without coordinates come last in the registry's order.
func TestHTTPNear(t *testing.T) {
	fake := newFakeRegistry()
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if _, err := fake.Register(context.Background(), &registryv1.RegisterRequest{
			Node:    &registryv1.Node{Node: n, Address: "10.0.0.1"},
			Service: &registryv1.Service{Service: "web", Port: 80},
			Checks:  []*registryv1.Check{{Name: "alive", Status: "passing", ServiceId: "web"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The agent is node "me" (not in the catalog); b and e have no
	// coordinate.
	coords := &fakeCoordinates{local: "me", at: map[string]time.Duration{
		"me": 0, "a": 9 * time.Millisecond, "c": time.Millisecond, "d": 4 * time.Millisecond}}
	c := nearServer(t, fake, coords)

	reads := map[string]func(*api.QueryOptions) ([]string, error){
		"catalog/nodes": func(q *api.QueryOptions) ([]string, error) {
			ns, _, err := c.Catalog().Nodes(q)
			var out []string
			for _, n := range ns {
				out = append(out, n.Node)
			}
			return out, err
		},
		"catalog/service": func(q *api.QueryOptions) ([]string, error) {
			ss, _, err := c.Catalog().Service("web", "", q)
			var out []string
			for _, s := range ss {
				out = append(out, s.Node)
			}
			return out, err
		},
		"health/service": func(q *api.QueryOptions) ([]string, error) {
			es, _, err := c.Health().Service("web", "", false, q)
			var out []string
			for _, e := range es {
				out = append(out, e.Node.Node)
			}
			return out, err
		},
		"health/checks": func(q *api.QueryOptions) ([]string, error) {
			cs, _, err := c.Health().Checks("web", q)
			var out []string
			for _, c := range cs {
				out = append(out, c.Node)
			}
			return out, err
		},
		"health/state": func(q *api.QueryOptions) ([]string, error) {
			cs, _, err := c.Health().State("passing", q)
			var out []string
			for _, c := range cs {
				out = append(out, c.Node)
			}
			return out, err
		},
	}
	for _, tc := range []struct {
		name string
		q    *api.QueryOptions
		want []string
	}{
		{"no near: the registry's order", nil, []string{"a", "b", "c", "d", "e"}},
		{"near the agent", &api.QueryOptions{Near: "_agent"}, []string{"c", "d", "a", "b", "e"}},
		{"near a node", &api.QueryOptions{Near: "a"}, []string{"a", "d", "c", "b", "e"}},
		{"near the local datacenter named", &api.QueryOptions{Near: "d", Datacenter: "dc1"}, []string{"d", "c", "a", "b", "e"}},
		{"near a node without a coordinate: unchanged", &api.QueryOptions{Near: "b"}, []string{"a", "b", "c", "d", "e"}},
	} {
		for name, read := range reads {
			t.Run(fmt.Sprintf("%s/%s", tc.name, name), func(t *testing.T) {
				got, err := read(tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
	}
}
