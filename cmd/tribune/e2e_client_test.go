package main_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/agenttest"
)

// TestClientAgent runs a client agent beside a server: the client holds no
// data, forwards KV and catalog calls to the server it found through
// gossip, and puts the services registered with it into the catalog.
func TestClientAgent(t *testing.T) {
	server := agenttest.Start(t, "", "-node", "srv")
	client := agenttest.StartClient(t, "", server.LAN(), "-node", "cli")
	sc, cc := consulClient(t, server), consulClient(t, client)

	members, err := cc.Agent().Members(false)
	if err != nil || len(members) != 2 {
		t.Fatalf("the client's LAN members: %+v %v", members, err)
	}

	// KV through the client lands in the server's store.
	if _, err := cc.KV().Put(&api.KVPair{Key: "from-client", Value: []byte("hi")}, nil); err != nil {
		t.Fatal(err)
	}
	if p, _, err := sc.KV().Get("from-client", nil); err != nil || p == nil || string(p.Value) != "hi" {
		t.Fatalf("server reading the client's write: %+v %v", p, err)
	}

	// A service registered with the client agent appears in the catalog,
	// on the client's node, with its check.
	if err := cc.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "edge", Port: 443,
		Check: &api.AgentServiceCheck{TTL: "1m", Status: "passing"}}); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 15*time.Second, func() error {
		entries, _, err := sc.Health().Service("edge", "", true, nil)
		if err != nil {
			return err
		}
		if len(entries) != 1 || entries[0].Node.Node != "cli" {
			return fmt.Errorf("passing edge instances on the server: %d", len(entries))
		}
		return nil
	}, client.Output)

	// The client's blocking queries and catalog reads go through too.
	nodes, meta, err := cc.Catalog().Nodes(nil)
	if err != nil || len(nodes) != 2 || meta.LastIndex == 0 || !meta.KnownLeader {
		t.Fatalf("nodes through the client: %+v %+v %v", nodes, meta, err)
	}
}

// TestGossipDrivesSerfHealth kills one client agent and lets another leave:
// the leader marks the killed node's serfHealth critical, which drops its
// services from ?passing, and deregisters the node that left.
func TestGossipDrivesSerfHealth(t *testing.T) {
	server := agenttest.Start(t, "", "-node", "srv")
	doomed := agenttest.StartClient(t, "", server.LAN(), "-node", "doomed")
	leaver := agenttest.StartClient(t, "", server.LAN(), "-node", "leaver")
	sc := consulClient(t, server)
	if err := consulClient(t, doomed).Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "job", Port: 1,
		Check: &api.AgentServiceCheck{TTL: "1h", Status: "passing"}}); err != nil {
		t.Fatal(err)
	}
	serfHealth := func(node string) (string, error) {
		checks, _, err := sc.Health().Node(node, nil)
		if err != nil {
			return "", err
		}
		for _, c := range checks {
			if c.CheckID == "serfHealth" {
				return c.Status, nil
			}
		}
		return "", fmt.Errorf("%s has no serfHealth check", node)
	}
	agenttest.Eventually(t, 15*time.Second, func() error {
		for _, n := range []string{"doomed", "leaver"} {
			if st, err := serfHealth(n); err != nil || st != "passing" {
				return fmt.Errorf("%s serfHealth %q %v", n, st, err)
			}
		}
		entries, _, err := sc.Health().Service("job", "", true, nil)
		if err != nil || len(entries) != 1 {
			return fmt.Errorf("passing job instances: %d %v", len(entries), err)
		}
		return nil
	})

	doomed.Kill()
	agenttest.Eventually(t, 15*time.Second, func() error {
		if st, err := serfHealth("doomed"); err != nil || st != "critical" {
			return fmt.Errorf("doomed serfHealth %q %v", st, err)
		}
		entries, _, err := sc.Health().Service("job", "", true, nil)
		if err != nil || len(entries) != 0 {
			return fmt.Errorf("passing job instances after the kill: %d %v", len(entries), err)
		}
		return nil
	})

	if err := consulClient(t, leaver).Agent().Leave(); err != nil {
		t.Fatal(err)
	}
	leaverGone := func() error {
		nodes, _, err := sc.Catalog().Nodes(nil)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Node == "leaver" {
				return fmt.Errorf("leaver still in the catalog")
			}
		}
		return nil
	}
	agenttest.Eventually(t, 30*time.Second, leaverGone, server.Output, leaver.Output)

	// A sync that lands after the leave (the agent's last anti-entropy
	// run racing its own leave) puts the node back without serfHealth;
	// the leader's reap takes it out again because gossip says it left.
	if _, err := sc.Catalog().Register(&api.CatalogRegistration{Node: "leaver", Address: "127.0.0.1",
		Service: &api.AgentService{Service: "late", Port: 2}}, nil); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 30*time.Second, leaverGone, server.Output)
}
