package deploy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// The fault tests share the project TestMain started and run one after
// another; each puts the topology back and waits for the cluster to be
// whole before it ends. The write load is bounded: a few writers, each
// with one write in flight and one every 20ms at most.
const (
	writers = 3
	pace    = 20 * time.Millisecond
)

// TestPartitionedServer cuts a dc1 server off dc1's network: the other two
// keep serving writes, the isolated one refuses consistent reads, and once
// reconnected it catches up with the writes made meanwhile.
func TestPartitionedServer(t *testing.T) {
	p := needCluster(t)
	isolated := p.leader(t, "dc1-server1") // the registry shard's leader
	rest := others(dc1Servers, isolated)
	t.Logf("isolating %s (the registry shard's leader); %v remain", isolated, rest)
	// The isolated server stays on the WAN network: the test reaches it
	// there, while its Raft peers are on dc1's network only.
	// A server without a quorum takes a few seconds to give up on a
	// consistent read: this client waits longer than the others.
	iso := clientWith(t, p.wanIP(isolated), &http.Client{Timeout: 30 * time.Second})
	if _, err := iso.KV().Put(&api.KVPair{Key: "partition/before", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}

	p.disconnect(t, isolated, "dc1")
	reconnected := false
	defer func() {
		if !reconnected {
			p.connect(t, isolated, "dc1")
		}
	}()

	// The majority elects a leader if it lost one and takes writes
	// through either of its servers.
	const n = 20
	for i := range n {
		c := client(t, p.lanIP(rest[i%2]))
		key := fmt.Sprintf("partition/during/%02d", i)
		waitFor(t, 30*time.Second, "write "+key+" through "+rest[i%2], func() error {
			_, err := c.KV().Put(&api.KVPair{Key: key, Value: []byte(key)}, nil)
			return err
		})
	}
	// The isolated server cannot prove it is up to date: a consistent
	// read fails (Consul: 500 "No cluster leader").
	var refusal error
	waitFor(t, 60*time.Second, isolated+" refuses a consistent read", func() error {
		_, _, err := iso.KV().Get("partition/during/00", &api.QueryOptions{RequireConsistent: true})
		if err == nil {
			return errors.New("the consistent read succeeded")
		}
		refusal = err
		return nil
	})
	t.Logf("%s answers a consistent read with: %v", isolated, refusal)
	if !strings.Contains(refusal.Error(), "Unexpected response code: 500 (No cluster leader)") {
		t.Errorf("consistent read on the isolated server: got %v, want 500 No cluster leader", refusal)
	}
	// It still serves what it has with ?stale, but not the new writes.
	if kv, _, err := iso.KV().Get("partition/during/00", &api.QueryOptions{AllowStale: true}); err == nil && kv != nil {
		t.Errorf("the isolated server has a write made without it: %s", kv.Key)
	}

	p.connect(t, isolated, "dc1")
	reconnected = true
	back := client(t, p.lanIP(isolated))
	waitFor(t, 60*time.Second, isolated+" catches up (stale reads)", func() error {
		pairs, _, err := back.KV().List("partition/during/", &api.QueryOptions{AllowStale: true})
		if err != nil {
			return err
		}
		if len(pairs) != n {
			return fmt.Errorf("%d of %d writes replicated", len(pairs), n)
		}
		return nil
	})
	waitFor(t, 60*time.Second, isolated+" serves consistent reads again", func() error {
		_, _, err := back.KV().Get("partition/during/00", &api.QueryOptions{RequireConsistent: true})
		return err
	})
	p.restore(t)
}

// TestKillLeader kills the dc1 leader's container under a steady write
// load: writes resume after the election and no acknowledged write is lost.
func TestKillLeader(t *testing.T) {
	p := needCluster(t)
	leader := p.leader(t, "dc1-server1")
	// Writes go through every dc1 agent in turn, the leader's included.
	l := startLoad(t, "kill", p.addrs(append(append([]string{}, dc1Servers...), dc1Clients...)...), writers, pace)
	l.waitAcks(t, 50, 30*time.Second, "50 writes before the kill")

	p.docker(t, leader, "kill")
	defer p.docker(t, leader, "start")
	killed := time.Now()
	atKill := l.acks()
	// Writes through the dead server's address fail; the others resume
	// once the two survivors have elected a leader.
	l.waitAcks(t, 100, 60*time.Second, "100 writes after the kill")
	t.Logf("writes resumed: %d acknowledged at the kill, %d now, %s after", atKill, l.acks(), time.Since(killed).Round(time.Millisecond))
	if nl := p.leader(t, others(dc1Servers, leader)[0]); nl == leader {
		t.Errorf("the killed server %s still reported as leader", leader)
	} else {
		t.Logf("new leader: %s", nl)
	}
	l.verify(t, p.lanIP(others(dc1Servers, leader)[0]))
	p.docker(t, leader, "start")
	p.restore(t)
}

// TestWANCut disconnects dc2's servers from the WAN network: each
// datacenter keeps working alone, a request for the other fails with
// Consul's error, and all recovers when the link returns.
func TestWANCut(t *testing.T) {
	p := needCluster(t)
	dc1 := client(t, p.lanIP("dc1-server1"))
	dc2 := client(t, p.lanIP("dc2-server1"))
	for _, s := range dc2Servers {
		p.disconnect(t, s, "wan")
	}
	cut := true
	defer func() {
		if cut {
			for _, s := range dc2Servers {
				p.connect(t, s, "wan")
			}
		}
	}()

	// Each datacenter alone: writes and reads of its own.
	waitFor(t, 30*time.Second, "dc1 takes a write alone", func() error {
		_, err := dc1.KV().Put(&api.KVPair{Key: "wan/dc1", Value: []byte("from-dc1")}, nil)
		return err
	})
	waitFor(t, 30*time.Second, "dc2 takes a write alone", func() error {
		_, err := dc2.KV().Put(&api.KVPair{Key: "wan/dc2", Value: []byte("from-dc2")}, nil)
		return err
	})
	// ?dc= to the other datacenter fails: from dc1, whose servers kept
	// their WAN interface, with Consul's answer once WAN gossip has seen
	// dc2's servers fail (seconds with -gossip-wan small, over a minute
	// with Consul's WAN timings); from dc2, whose servers lost theirs,
	// with a 500 at once (a dial error) and Consul's answer much later, as
	// gossip's local health awareness stretches the failure detection of
	// a member whose every probe fails.
	var last error
	waitFor(t, 60*time.Second, "dc1: ?dc=dc2 fails with No path to datacenter", func() error {
		_, _, err := dc1.KV().Get("wan/dc2", &api.QueryOptions{Datacenter: "dc2"})
		if err == nil {
			return errors.New("the read across the cut link succeeded")
		}
		last = err
		if !strings.Contains(err.Error(), "Unexpected response code: 500 (No path to datacenter)") {
			return fmt.Errorf("not yet Consul's error: %w", err)
		}
		return nil
	})
	t.Logf("dc1: ?dc=dc2 answers %v", last)
	// The gateway may spend a while dialing a server that gossip still
	// lists: wait for its answer.
	slow := clientWith(t, p.lanIP("dc2-server1"), &http.Client{Timeout: 30 * time.Second})
	_, _, err := slow.KV().Get("wan/dc1", &api.QueryOptions{Datacenter: "dc1"})
	if err == nil {
		t.Fatal("dc2: ?dc=dc1 across the cut link succeeded")
	}
	t.Logf("dc2: ?dc=dc1 answers %v", err)

	for _, s := range dc2Servers {
		p.connect(t, s, "wan")
	}
	cut = false
	// The link back: each reads the other's write made during the cut.
	waitFor(t, 120*time.Second, "dc1 reads dc2's write through ?dc=dc2", func() error {
		kv, _, err := dc1.KV().Get("wan/dc2", &api.QueryOptions{Datacenter: "dc2"})
		if err != nil {
			return err
		}
		if kv == nil || string(kv.Value) != "from-dc2" {
			return fmt.Errorf("read %v", kv)
		}
		return nil
	})
	waitFor(t, 120*time.Second, "dc2 reads dc1's write through ?dc=dc1", func() error {
		kv, _, err := dc2.KV().Get("wan/dc1", &api.QueryOptions{Datacenter: "dc1"})
		if err != nil {
			return err
		}
		if kv == nil || string(kv.Value) != "from-dc1" {
			return fmt.Errorf("read %v", kv)
		}
		return nil
	})
	p.restore(t)
}

// TestRollingRestart restarts the dc1 servers one at a time (docker
// restart: SIGTERM, then start) under a steady write load, each once the
// previous is back and caught up: no acknowledged write is lost.
func TestRollingRestart(t *testing.T) {
	p := needCluster(t)
	// Writes go through the client agents, as applications' would.
	l := startLoad(t, "rolling", p.addrs(dc1Clients...), writers, pace)
	l.waitAcks(t, 50, 30*time.Second, "50 writes before the restarts")
	for _, s := range dc1Servers {
		p.docker(t, s, "restart", "-t", "20")
		c := client(t, p.lanIP(s))
		waitFor(t, 90*time.Second, s+" back with a leader and the shard's three peers", func() error {
			peers, err := c.Status().Peers()
			if err != nil {
				return err
			}
			if len(peers) != 3 {
				return fmt.Errorf("peers %v", peers)
			}
			_, _, err = c.KV().Get("rolling", &api.QueryOptions{RequireConsistent: true})
			return err
		})
		l.waitAcks(t, 50, 60*time.Second, "50 writes after restarting "+s)
	}
	l.verify(t, p.lanIP("dc1-server1"))
	p.restore(t)
}
