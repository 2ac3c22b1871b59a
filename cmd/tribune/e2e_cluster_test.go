package main_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/agenttest"
)

// TestBootstrapExpectCluster starts three servers with -bootstrap-expect 3:
// they form one cluster for both shards and replicate KV writes; a fourth
// joins later; the SIGKILL of the leader's server leaves the others a new
// leader and every acknowledged write.
func TestBootstrapExpectCluster(t *testing.T) {
	s1, s2, s3 := startThreeServers(t)
	servers := []*agenttest.Agent{s1, s2, s3}
	output := func() string { return s1.Output() + s2.Output() + s3.Output() }

	// One leader, three peers, the same on every server.
	var leader string
	agenttest.Eventually(t, 40*time.Second, func() (err error) {
		leader, err = agreedLeader(t, servers, 3)
		return err
	}, output)

	// The KV shard elects its own leader; each server's first forwarded
	// write may be lost while Raft's connections come up (Dragonboat drops
	// messages to a peer it could not reach a moment ago), so warm up with
	// a write per server, retried as Consul's clients retry a 500.
	for _, s := range servers {
		agenttest.Eventually(t, 60*time.Second, func() error {
			_, err := consulClient(t, s).KV().Put(&api.KVPair{Key: "warm-up", Value: []byte(s.HTTP)}, nil)
			return err
		}, output)
	}

	// Writes on any server are read on every other.
	var keys []string
	for i, s := range servers {
		for j := range 5 {
			k := "k" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
			if _, err := consulClient(t, s).KV().Put(&api.KVPair{Key: k, Value: []byte(k)}, nil); err != nil {
				t.Fatalf("put %s on %s: %v", k, s.HTTP, err)
			}
			keys = append(keys, k)
		}
	}
	readAll := func(on []*agenttest.Agent) error {
		for _, s := range on {
			kv := consulClient(t, s).KV()
			for _, k := range keys {
				p, _, err := kv.Get(k, nil)
				if err != nil || p == nil || string(p.Value) != k {
					return fmt.Errorf("get %s on %s: %+v %v", k, s.HTTP, p, err)
				}
			}
		}
		return nil
	}
	agenttest.Eventually(t, 10*time.Second, func() error { return readAll(servers) }, output)

	// A fourth server with the same -bootstrap-expect arrives after the
	// bootstrap: it joins, and each shard's leader adds it.
	s4 := agenttest.StartServer(t, "", 3, s1.LAN(), "-node", "s4")
	servers = append(servers, s4)
	output = func() string { return s1.Output() + s2.Output() + s3.Output() + s4.Output() }
	agenttest.Eventually(t, 30*time.Second, func() error {
		for _, s := range servers {
			peers, err := consulClient(t, s).Status().Peers()
			if err != nil || len(peers) != 4 {
				return fmt.Errorf("peers on %s: %v %v", s.HTTP, peers, err)
			}
		}
		return readAll([]*agenttest.Agent{s4}) // the KV shard has it too
	}, output)

	// SIGKILL the leader's server: the other two elect a new leader and
	// keep every acknowledged write.
	i := slices.IndexFunc(servers, func(s *agenttest.Agent) bool {
		return leader == "127.0.0.1:"+strconv.Itoa(s.ServerPort)
	})
	if i < 0 {
		t.Fatalf("leader %s is none of the servers", leader)
	}
	servers[i].Kill()
	rest := slices.Delete(slices.Clone(servers), i, i+1)
	agenttest.Eventually(t, 20*time.Second, func() error { return newLeader(t, rest, leader) }, output)
	agenttest.Eventually(t, 20*time.Second, func() error {
		if _, err := consulClient(t, rest[0]).KV().Put(&api.KVPair{Key: "after", Value: []byte("after")}, nil); err != nil {
			return err
		}
		keys = append(keys, "after")
		return nil
	}, output)
	agenttest.Eventually(t, 20*time.Second, func() error { return readAll(rest) }, output)
}

// TestReplaceDeadServer kills one of three servers and starts a fresh one
// in its place with the same -bootstrap-expect 3: it sees exactly three
// alive servers, as at the first bootstrap, but its peers report the
// cluster they formed, so it joins that cluster (the leaders add it to
// both shards) instead of bootstrapping a second one beside it.
func TestReplaceDeadServer(t *testing.T) {
	s1, s2, s3 := startThreeServers(t)
	output := func() string { return s1.Output() + s2.Output() + s3.Output() }
	// Each shard elects its own leader: write to both once both have one.
	agenttest.Eventually(t, 60*time.Second, func() error {
		c := consulClient(t, s1)
		if _, err := c.KV().Put(&api.KVPair{Key: "before", Value: []byte("v")}, nil); err != nil {
			return err
		}
		_, err := c.Catalog().Register(&api.CatalogRegistration{Node: "ext", Address: "10.0.0.1"}, nil)
		return err
	}, output)

	// Once gossip sees s3 failed, a new server sees exactly three alive
	// servers (s1, s2 and itself), as at the first bootstrap.
	s3.Kill()
	agenttest.Eventually(t, 20*time.Second, func() error {
		members, err := consulClient(t, s1).Agent().Members(false)
		if err != nil {
			return err
		}
		for _, m := range members {
			if m.Name == "s3" && m.Status == 1 {
				return fmt.Errorf("s3 is still alive to gossip")
			}
		}
		return nil
	}, output)
	s4 := agenttest.StartServer(t, "", 3, s1.LAN(), "-node", "s4")
	output = func() string { return s1.Output() + s2.Output() + s4.Output() }
	// s4 holds the data written before it came, in both shards, read from
	// its own replicas; the cluster counts four servers, s3 among them.
	c4 := consulClient(t, s4)
	agenttest.Eventually(t, 60*time.Second, func() error {
		p, _, err := c4.KV().Get("before", &api.QueryOptions{AllowStale: true})
		if err != nil || p == nil {
			return fmt.Errorf("s4's KV replica: %+v %v", p, err)
		}
		nodes, _, err := c4.Catalog().Nodes(&api.QueryOptions{AllowStale: true})
		if err != nil || !slices.ContainsFunc(nodes, func(n *api.Node) bool { return n.Node == "ext" }) {
			return fmt.Errorf("s4's catalog replica: %d nodes %v", len(nodes), err)
		}
		peers, err := consulClient(t, s1).Status().Peers()
		if err != nil || len(peers) != 4 {
			return fmt.Errorf("peers: %v %v", peers, err)
		}
		return nil
	}, output)
	if !strings.Contains(s4.Output(), "reports an existing cluster") || strings.Contains(s4.Output(), "bootstrapping the shard") {
		t.Fatalf("s4 did not join the existing cluster:\n%s", s4.Output())
	}
	// Three of the four are alive: a quorum, so writes go on.
	agenttest.Eventually(t, 20*time.Second, func() error {
		_, err := c4.KV().Put(&api.KVPair{Key: "after", Value: []byte("v")}, nil)
		return err
	}, output)
}

// startThreeServers starts s1, s2 and s3 with -bootstrap-expect 3, the
// other two joining s1.
func startThreeServers(t *testing.T) (s1, s2, s3 *agenttest.Agent) {
	s1 = agenttest.StartServer(t, "", 3, "", "-node", "s1")
	// The others join s1's gossip once it listens (retry-join retries only
	// every 30 s).
	agenttest.Eventually(t, 20*time.Second, func() error {
		_, err := consulClient(t, s1).Agent().Members(false)
		return err
	}, s1.Output)
	s2 = agenttest.StartServer(t, "", 3, s1.LAN(), "-node", "s2")
	s3 = agenttest.StartServer(t, "", 3, s1.LAN(), "-node", "s3")
	return s1, s2, s3
}

// agreedLeader returns the leader every one of servers reports, once each
// also reports peers Raft peers; an error says who disagrees.
func agreedLeader(t *testing.T, servers []*agenttest.Agent, peers int) (string, error) {
	leader := ""
	for _, s := range servers {
		st := consulClient(t, s).Status()
		p, err := st.Peers()
		if err != nil || len(p) != peers {
			return "", fmt.Errorf("peers on %s: %v %v", s.HTTP, p, err)
		}
		l, err := st.Leader()
		if err != nil || l == "" || (leader != "" && l != leader) {
			return "", fmt.Errorf("leader on %s: %q (others %q) %v", s.HTTP, l, leader, err)
		}
		leader = l
	}
	return leader, nil
}

// newLeader checks that every one of servers reports the same leader, and
// not old.
func newLeader(t *testing.T, servers []*agenttest.Agent, old string) error {
	var got string
	for _, s := range servers {
		l, err := consulClient(t, s).Status().Leader()
		if err != nil || l == "" || l == old || (got != "" && l != got) {
			return fmt.Errorf("leader on %s after the kill: %q (was %q, other %q) %v", s.HTTP, l, old, got, err)
		}
		got = l
	}
	return nil
}
