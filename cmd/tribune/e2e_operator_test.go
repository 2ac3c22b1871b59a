package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/agenttest"
	"github.com/tribune/tribune/lib/rpc"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
)

// TestOperatorRaft runs one three-server cluster through Consul's Raft
// operator surface: /v1/status/leader while a server waits for
// -bootstrap-expect, /v1/operator/raft/configuration and `tribune
// operator raft list-peers` once the cluster has formed, a restart of all
// three on their data directories, and the graceful leave of a server,
// which both shards' leaders remove while the other two keep writing.
func TestOperatorRaft(t *testing.T) {
	s1 := agenttest.StartServer(t, "", 3, "", "-node", "s1")

	// Alone, s1 waits for two more servers: Consul answers "" for the
	// leader and [] for the peers meanwhile, not an error.
	agenttest.Eventually(t, 20*time.Second, func() error {
		for path, want := range map[string]string{"/v1/status/leader": `""`, "/v1/status/peers": `[]`} {
			code, body, err := httpGet(s1.URL(path))
			if err != nil || code != http.StatusOK || body != want {
				return fmt.Errorf("GET %s: %d %q %v", path, code, body, err)
			}
		}
		code, body, err := httpGet(s1.URL("/v1/operator/raft/configuration?stale"))
		if err != nil || code != http.StatusOK || body != `{"Servers":[],"Index":0}` {
			return fmt.Errorf("stale configuration: %d %q %v", code, body, err)
		}
		if !strings.Contains(s1.Output(), "waiting for 3 servers to bootstrap") {
			return fmt.Errorf("s1 does not say it waits")
		}
		return nil
	}, s1.Output)
	if code, body, err := httpGet(s1.URL("/v1/operator/raft/configuration")); err != nil ||
		code != http.StatusInternalServerError || !strings.Contains(body, "No cluster leader") {
		t.Fatalf("configuration without a leader: %d %q %v", code, body, err)
	}

	t.Log("s1 waits alone; starting s2 and s3")
	s2 := agenttest.StartServer(t, "", 3, s1.LAN(), "-node", "s2")
	s3 := agenttest.StartServer(t, "", 3, s1.LAN(), "-node", "s3")
	servers := []*agenttest.Agent{s1, s2, s3}
	output := func() string { return s1.Output() + s2.Output() + s3.Output() }
	names := map[string]*agenttest.Agent{"s1": s1, "s2": s2, "s3": s3}

	// Each server reports the same configuration of each shard: three
	// voters, one leader, each with its node ID, name and Raft address.
	var leader string
	agenttest.Eventually(t, 60*time.Second, func() error {
		var err error
		leader, err = sameConfiguration(t, servers, names, false)
		return err
	}, output)
	agenttest.Eventually(t, 30*time.Second, func() error {
		_, err := sameConfiguration(t, servers, names, true)
		return err
	}, output)

	t.Log("both shards configured")
	// list-peers prints Consul's table of the same.
	out, err := exec.Command(agenttest.Binary(t), "operator", "raft", "list-peers", "-http-addr", s2.HTTP).CombinedOutput()
	if err != nil {
		t.Fatalf("list-peers: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "Node ID Address State Voter RaftProtocol" {
		t.Fatalf("list-peers printed:\n%s", out)
	}
	leaders := 0
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		a := names[f[0]]
		if len(f) != 6 || a == nil || f[1] != nodeID(t, a) || f[2] != serverAddr(a) || f[4] != "true" || f[5] != "3" {
			t.Fatalf("list-peers row %q of:\n%s", l, out)
		}
		if f[3] == "leader" {
			leaders++
			if f[2] != leader {
				t.Fatalf("list-peers leader %s, /v1/status/leader %s", f[2], leader)
			}
		}
	}
	if leaders != 1 {
		t.Fatalf("list-peers shows %d leaders:\n%s", leaders, out)
	}

	// Data in both shards: KV keys, and a catalog node.
	for _, s := range servers {
		agenttest.Eventually(t, 60*time.Second, func() error {
			_, err := consulClient(t, s).KV().Put(&api.KVPair{Key: "op/" + s.HTTP, Value: []byte(s.HTTP)}, nil)
			return err
		}, output)
	}
	agenttest.Eventually(t, 20*time.Second, func() error {
		_, err := consulClient(t, s1).Catalog().Register(&api.CatalogRegistration{
			Node: "external", Address: "10.1.2.3", Service: &api.AgentService{Service: "db", Port: 5432},
		}, nil)
		return err
	}, output)
	readBack := func(on []*agenttest.Agent) error {
		for _, s := range on {
			c := consulClient(t, s)
			for _, w := range servers {
				p, _, err := c.KV().Get("op/"+w.HTTP, nil)
				if err != nil || p == nil || string(p.Value) != w.HTTP {
					return fmt.Errorf("get op/%s on %s: %+v %v", w.HTTP, s.HTTP, p, err)
				}
			}
			svc, _, err := c.Catalog().Service("db", "", nil)
			if err != nil || len(svc) != 1 || svc[0].Node != "external" {
				return fmt.Errorf("catalog service db on %s: %+v %v", s.HTTP, svc, err)
			}
		}
		return nil
	}
	agenttest.Eventually(t, 20*time.Second, func() error { return readBack(servers) }, output)

	t.Log("data written and read")
	// All three crash (SIGKILL) and start again
	// on their data directories: they restart from their Raft data, never
	// bootstrap again, and come back with the same peers and data.
	for _, s := range servers {
		s.Kill()
	}
	for _, s := range servers {
		s.Rerun()
	}
	agenttest.Eventually(t, 60*time.Second, func() error {
		var err error
		leader, err = sameConfiguration(t, servers, names, false)
		if err != nil {
			return err
		}
		_, err = sameConfiguration(t, servers, names, true)
		return err
	}, output)
	agenttest.Eventually(t, 30*time.Second, func() error { return readBack(servers) }, output)
	for _, s := range servers {
		o := s.Output()
		if strings.Contains(o, "bootstrapping the shard") || strings.Count(o, "Raft data found") < 2 {
			t.Fatalf("the restart of %s did not restart both shards from their data:\n%s", s.HTTP, o)
		}
	}

	t.Log("restarted")
	// The registry shard's leader leaves gracefully: each shard's leader
	// (the next one, for the shard it led) removes it.
	i := slices.IndexFunc(servers, func(s *agenttest.Agent) bool { return serverAddr(s) == leader })
	if i < 0 {
		t.Fatalf("leader %s is none of the servers", leader)
	}
	gone := servers[i]
	rest := slices.Delete(slices.Clone(servers), i, i+1)
	if err := consulClient(t, gone).Agent().Leave(); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if err := gone.Wait(30 * time.Second); err != nil {
		t.Fatalf("the agent that left: %v\n%s", err, gone.Output())
	}
	goneName := ""
	for n, a := range names {
		if a == gone {
			goneName = n
			delete(names, n)
		}
	}
	output = func() string { return rest[0].Output() + rest[1].Output() }
	agenttest.Eventually(t, 30*time.Second, func() error {
		for _, s := range rest {
			peers, err := consulClient(t, s).Status().Peers()
			if err != nil || len(peers) != 2 || slices.Contains(peers, serverAddr(gone)) {
				return fmt.Errorf("peers on %s: %v %v", s.HTTP, peers, err)
			}
		}
		if _, err := sameConfiguration(t, rest, names, false); err != nil {
			return err
		}
		_, err := sameConfiguration(t, rest, names, true)
		return err
	}, output)
	t.Log("removed from both shards")
	// The other two still accept writes, in both shards.
	for _, s := range rest {
		agenttest.Eventually(t, 20*time.Second, func() error {
			c := consulClient(t, s)
			if _, err := c.KV().Put(&api.KVPair{Key: "after-leave/" + s.HTTP, Value: []byte("x")}, nil); err != nil {
				return err
			}
			_, err := c.Catalog().Register(&api.CatalogRegistration{Node: "after-" + strconv.Itoa(s.ServerPort), Address: "10.9.9.9"}, nil)
			return err
		}, output)
	}
	agenttest.Eventually(t, 20*time.Second, func() error {
		for _, s := range rest {
			for _, w := range rest {
				p, _, err := consulClient(t, s).KV().Get("after-leave/"+w.HTTP, nil)
				if err != nil || p == nil {
					return fmt.Errorf("get after-leave/%s on %s: %+v %v", w.HTTP, s.HTTP, p, err)
				}
			}
		}
		return nil
	}, output)

	// The server that left starts again on its data directory, as a
	// Consul server rejoins after a leave: it sets its Raft data aside,
	// takes a new node ID, and both shards' leaders add it again; it then
	// holds what was written while it was away.
	oldID := nodeID(t, gone)
	gone.Rerun()
	names[goneName] = gone
	all := append(slices.Clone(rest), gone)
	output = func() string { return rest[0].Output() + rest[1].Output() + gone.Output() }
	// It left, so gossip does not rejoin on its own (Consul's
	// rejoin_after_leave is off): join it to the others, as an operator
	// would, unless its -retry-join does.
	agenttest.Eventually(t, 30*time.Second, func() error {
		return consulClient(t, gone).Agent().Join(rest[0].LAN(), false)
	}, gone.Output)
	agenttest.Eventually(t, 60*time.Second, func() error {
		if _, err := sameConfiguration(t, all, names, false); err != nil {
			return err
		}
		if _, err := sameConfiguration(t, all, names, true); err != nil {
			return err
		}
		for _, w := range rest {
			p, _, err := consulClient(t, gone).KV().Get("after-leave/"+w.HTTP, &api.QueryOptions{AllowStale: true})
			if err != nil || p == nil {
				return fmt.Errorf("the returning server's KV replica: after-leave/%s: %+v %v", w.HTTP, p, err)
			}
		}
		return nil
	}, output)
	if nodeID(t, gone) == oldID || !strings.Contains(gone.Output(), "This server left its cluster") {
		t.Fatalf("the returning server kept node ID %s or did not say why it starts afresh:\n%s", oldID, gone.Output())
	}
}

// sameConfiguration checks that every server reports the same Raft
// configuration of the registry shard (over HTTP, as Consul's
// /v1/operator/raft/configuration) or of the KV shard (over the public
// gRPC port): exactly the servers of names, all voters, each with its
// node ID and Raft address, and one leader. It returns the leader's
// address.
func sameConfiguration(t *testing.T, servers []*agenttest.Agent, names map[string]*agenttest.Agent, kvShard bool) (string, error) {
	t.Helper()
	leader := ""
	for _, s := range servers {
		var got []*api.RaftServer
		if kvShard {
			c, err := kvConfiguration(s)
			if err != nil {
				return "", fmt.Errorf("kv shard configuration on %s: %v", s.HTTP, err)
			}
			got = c
		} else {
			c, err := consulClient(t, s).Operator().RaftGetConfiguration(nil)
			if err != nil {
				return "", fmt.Errorf("configuration on %s: %v", s.HTTP, err)
			}
			got = c.Servers
		}
		if len(got) != len(names) {
			return "", fmt.Errorf("configuration on %s (kv %v): %d servers, want %d: %s", s.HTTP, kvShard, len(got), len(names), show(got))
		}
		var l string
		for _, rs := range got {
			a := names[rs.Node]
			if a == nil {
				return "", fmt.Errorf("configuration on %s (kv %v): unknown node %q: %s", s.HTTP, kvShard, rs.Node, show(got))
			}
			addr := serverAddr(a)
			if kvShard {
				addr = "127.0.0.1:" + strconv.Itoa(a.KVPort)
			}
			if rs.ID != nodeID(t, a) || rs.Address != addr || !rs.Voter || rs.ProtocolVersion != "3" {
				return "", fmt.Errorf("configuration on %s (kv %v): %+v, want ID %s address %s", s.HTTP, kvShard, *rs, nodeID(t, a), addr)
			}
			if rs.Leader {
				if l != "" {
					return "", fmt.Errorf("configuration on %s (kv %v): two leaders: %s", s.HTTP, kvShard, show(got))
				}
				l = rs.Address
			}
		}
		if l == "" || (leader != "" && l != leader) {
			return "", fmt.Errorf("configuration on %s (kv %v): leader %q, others %q", s.HTTP, kvShard, l, leader)
		}
		leader = l
	}
	return leader, nil
}

// kvConfiguration reads the KV shard's configuration through a server's
// public gRPC port, where StatusService.RaftConfiguration takes the shard.
func kvConfiguration(a *agenttest.Agent) ([]*api.RaftServer, error) {
	conn, err := rpc.Dial(a.GRPC)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := statusv1.NewStatusServiceClient(conn).RaftConfiguration(ctx,
		&statusv1.RaftConfigurationRequest{Shard: statusv1.Shard_SHARD_KV})
	if err != nil {
		return nil, err
	}
	var out []*api.RaftServer
	for _, s := range resp.GetServers() {
		out = append(out, &api.RaftServer{ID: s.GetId(), Node: s.GetNode(), Address: s.GetAddress(),
			Leader: s.GetLeader(), Voter: s.GetVoter(), ProtocolVersion: s.GetProtocolVersion()})
	}
	return out, nil
}

func show(servers []*api.RaftServer) string {
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "%+v ", *s)
	}
	return b.String()
}

// serverAddr is a server's registry-shard Raft address: what
// /v1/status/peers lists.
func serverAddr(a *agenttest.Agent) string { return "127.0.0.1:" + strconv.Itoa(a.ServerPort) }

// nodeID is the node ID the agent persisted in its data directory.
func nodeID(t *testing.T, a *agenttest.Agent) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.DataDir, "node-id"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// httpGet returns a GET's status and body.
func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}
