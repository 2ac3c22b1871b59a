package main_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/agenttest"
)

// TestMembershipWAN joins two single-server datacenters over the WAN pool
// and checks members, datacenters, a failed join and a graceful leave.
func TestMembershipWAN(t *testing.T) {
	dc1 := agenttest.Start(t, "", "-node", "one", "-datacenter", "dc1")
	dc2 := agenttest.Start(t, "", "-node", "two", "-datacenter", "dc2")
	c1, c2 := consulClient(t, dc1), consulClient(t, dc2)

	lan, err := c1.Agent().Members(false)
	if err != nil || len(lan) != 1 || lan[0].Name != "one" || lan[0].Tags["role"] != "consul" ||
		lan[0].Tags["dc"] != "dc1" || lan[0].Status != 1 {
		t.Fatalf("LAN members of dc1: %+v %v", lan, err)
	}

	// A join to where nothing listens fails, naming the address, and the
	// agent keeps running.
	dead := "127.0.0.1:" + strconv.Itoa(agenttest.FreePort(t))
	if err := c1.Agent().Join(dead, true); err == nil || !strings.Contains(err.Error(), dead) {
		t.Fatalf("join to a dead address: %v, want an error naming %s", err, dead)
	}

	if err := c2.Agent().Join("127.0.0.1:"+strconv.Itoa(dc1.SerfWANPort), true); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*api.Client{c1, c2} {
		agenttest.Eventually(t, 20*time.Second, func() error {
			wan, err := c.Agent().Members(true)
			if err != nil {
				return err
			}
			var names []string
			for _, m := range wan {
				if m.Status == 1 {
					names = append(names, m.Name)
				}
			}
			slices.Sort(names)
			if strings.Join(names, ",") != "one.dc1,two.dc2" {
				return fmt.Errorf("alive WAN members %v", names)
			}
			return nil
		})
	}
	for c, want := range map[*api.Client]string{c1: "dc1,dc2", c2: "dc2,dc1"} {
		dcs, err := c.Catalog().Datacenters()
		if err != nil || strings.Join(dcs, ",") != want {
			t.Fatalf("datacenters: %v %v, want %s (local first)", dcs, err, want)
		}
	}

	// ?dc= reaches the other datacenter; each keeps its own KV store and
	// catalog; an unknown datacenter is Consul's error.
	if _, err := c1.KV().Put(&api.KVPair{Key: "where", Value: []byte("dc1")}, nil); err != nil {
		t.Fatal(err)
	}
	p, _, err := c2.KV().Get("where", &api.QueryOptions{Datacenter: "dc1"})
	if err != nil || p == nil || string(p.Value) != "dc1" {
		t.Fatalf("dc2 reading dc1's key: %+v %v", p, err)
	}
	if p, _, err := c2.KV().Get("where", nil); err != nil || p != nil {
		t.Fatalf("dc2's own store has dc1's key: %+v %v", p, err)
	}
	if _, err := c2.KV().Put(&api.KVPair{Key: "written-from-dc2", Value: []byte("x")}, &api.WriteOptions{Datacenter: "dc1"}); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := c1.KV().Get("written-from-dc2", nil); p == nil {
		t.Fatal("a write with ?dc=dc1 from dc2 did not reach dc1")
	}
	nodes, _, err := c2.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc1"})
	if err != nil || len(nodes) != 1 || nodes[0].Node != "one" || nodes[0].Datacenter != "dc1" {
		t.Fatalf("dc1's nodes from dc2: %+v %v", nodes, err)
	}
	if _, _, err := c2.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc9"}); err == nil ||
		!strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "No path to datacenter") {
		t.Fatalf("unknown datacenter: %v", err)
	}

	// A client agent of dc1 is in no WAN pool: its server answers the
	// datacenter list and forwards ?dc= for it, as Consul's clients do.
	client := agenttest.StartClient(t, "", dc1.LAN(), "-node", "edge")
	cc := consulClient(t, client)
	agenttest.Eventually(t, 20*time.Second, func() error {
		dcs, err := cc.Catalog().Datacenters()
		if err != nil || strings.Join(dcs, ",") != "dc1,dc2" {
			return fmt.Errorf("datacenters through a client: %v %v", dcs, err)
		}
		return nil
	}, client.Output)
	if _, err := c2.KV().Put(&api.KVPair{Key: "where", Value: []byte("dc2")}, nil); err != nil {
		t.Fatal(err)
	}
	if p, _, err := cc.KV().Get("where", &api.QueryOptions{Datacenter: "dc2"}); err != nil || p == nil || string(p.Value) != "dc2" {
		t.Fatalf("a dc1 client reading dc2's key: %+v %v", p, err)
	}
	if nodes, _, err := cc.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc2"}); err != nil || len(nodes) != 1 || nodes[0].Node != "two" {
		t.Fatalf("dc2's nodes through a dc1 client: %+v %v", nodes, err)
	}
	if _, _, err := cc.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc9"}); err == nil ||
		!strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "No path to datacenter") {
		t.Fatalf("unknown datacenter through a client: %v", err)
	}

	// A graceful leave ends the agent, with status 0, and the other
	// datacenter sees it leave.
	req, _ := http.NewRequest("PUT", dc2.URL("/v1/agent/leave"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("leave: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := dc2.Wait(30 * time.Second); err != nil {
		t.Fatalf("agent after leave: %v", err)
	}
	agenttest.Eventually(t, 20*time.Second, func() error {
		wan, err := c1.Agent().Members(true)
		if err != nil {
			return err
		}
		for _, m := range wan {
			if m.Name == "two.dc2" && m.Status != 3 {
				return fmt.Errorf("two.dc2 has status %d, want 3 (left)", m.Status)
			}
		}
		return nil
	})
}
