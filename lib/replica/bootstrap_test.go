package replica

import (
	"strings"
	"testing"

	"github.com/tribune/tribune/lib/nodeid"
)

func TestPlan(t *testing.T) {
	srv := func(name string, expect int) Server {
		return Server{Name: name, NodeID: name, Datacenter: "dc1", Alive: true, Expect: expect, RaftAddress: name + ":1"}
	}
	a, b, c, d := srv("a", 3), srv("b", 3), srv("c", 3), srv("d", 3)
	if _, _, wait := Plan([]Server{a, b}, "dc1", 3, "a", "self:1"); !strings.Contains(wait, "waiting for 3") {
		t.Fatalf("two of three: %q", wait)
	}
	initial, join, wait := Plan([]Server{a, b, c}, "dc1", 3, "a", "self:1")
	if wait != "" || join || len(initial) != 3 || initial[nodeid.ReplicaID("a")] != "self:1" || initial[nodeid.ReplicaID("c")] != "c:1" {
		t.Fatalf("three of three: %v %v %q", initial, join, wait)
	}
	if _, join, wait := Plan([]Server{a, b, c, d}, "dc1", 3, "d", "d:1"); !join || wait != "" {
		t.Fatalf("a fourth server: join %v %q", join, wait)
	}
	if _, _, wait := Plan([]Server{a, b, srv("c", 5)}, "dc1", 3, "a", "a:1"); !strings.Contains(wait, "refusing") {
		t.Fatalf("another expect: %q", wait)
	}
	dead := c
	dead.Alive = false
	other := srv("e", 3)
	other.Datacenter = "dc2"
	if _, _, wait := Plan([]Server{a, b, dead, other}, "dc1", 3, "a", "a:1"); wait == "" {
		t.Fatal("a dead server and one of another datacenter counted")
	}
}
