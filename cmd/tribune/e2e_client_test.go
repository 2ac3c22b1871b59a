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
