package main_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/agenttest"
)

// Two gossip encryption keys, as `tribune keygen` writes them.
const (
	clusterKey = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
	otherKey   = "ZUBFOV1M1jeR/BVuoNpJN0WFivZqm1WJkF2yg6s9dG0="
)

// runCLI runs `tribune args...` and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(agenttest.Binary(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("tribune %v: %v", args, err)
	}
	return 0, out.String()
}

// noLeader reports an error when the agent names a Raft leader.
func noLeader(a *agenttest.Agent) error {
	resp, err := http.Get(a.URL("/v1/status/leader"))
	if err != nil {
		return fmt.Errorf("leader on %s: %w", a.HTTP, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode == http.StatusOK && strings.TrimSpace(b.String()) != `""` {
		return fmt.Errorf("%s has a leader: %s", a.HTTP, b.String())
	}
	return nil
}

// TestFaults runs one encrypted cluster of three servers and a client
// agent through faults: mismatched -bootstrap-expect values, the SIGKILL
// of the catalog's leader under writes (which is also the server the client
// joined through), and bad joins (nothing listening, a wrong -encrypt key).
func TestFaults(t *testing.T) {
	s1 := agenttest.StartServer(t, "", 3, "", "-node", "s1", "-encrypt", clusterKey)
	agenttest.Eventually(t, 20*time.Second, func() error {
		_, err := consulClient(t, s1).Agent().Members(false)
		return err
	}, s1.Output)
	s2 := agenttest.StartServer(t, "", 3, s1.LAN(), "-node", "s2", "-encrypt", clusterKey)
	odd := agenttest.StartServer(t, "", 2, s1.LAN(), "-node", "odd", "-encrypt", clusterKey)

	// Three servers in the pool, one of them expecting 2: all of them
	// refuse to bootstrap (CONSUL-API.md §3.2), so no cluster forms, split
	// or not. Without the refusal s1 and s2 would bootstrap with all three
	// and elect a leader.
	t.Run("mismatched bootstrap-expect", func(t *testing.T) {
		for _, a := range []*agenttest.Agent{s1, s2, odd} {
			agenttest.Eventually(t, 30*time.Second, func() error {
				if !strings.Contains(a.Output(), "refusing to bootstrap") {
					return fmt.Errorf("%s logged no refusal", a.HTTP)
				}
				return nil
			}, a.Output)
		}
		if !strings.Contains(odd.Output(), "this one 2") || !strings.Contains(s1.Output(), "expects 2 servers, this one 3") {
			t.Errorf("the refusals do not name the conflicting values:\n%s\n%s", odd.Output(), s1.Output())
		}
		for _, a := range []*agenttest.Agent{s1, s2, odd} {
			if err := noLeader(a); err != nil {
				t.Error(err)
			}
		}
	})

	// The odd server goes; a third with the right value takes its place
	// and the three bootstrap.
	odd.Kill()
	s3 := agenttest.StartServer(t, "", 3, s1.LAN(), "-node", "s3", "-encrypt", clusterKey)
	servers := []*agenttest.Agent{s1, s2, s3}
	output := func() string { return s1.Output() + s2.Output() + s3.Output() }
	var leader string
	agenttest.Eventually(t, 60*time.Second, func() (err error) {
		leader, err = agreedLeader(t, servers, 3)
		return err
	}, output)
	li := slices.IndexFunc(servers, func(s *agenttest.Agent) bool { return leader == "127.0.0.1:"+strconv.Itoa(s.ServerPort) })
	if li < 0 {
		t.Fatalf("leader %s is none of the servers", leader)
	}
	doomed := servers[li]
	rest := slices.Delete(slices.Clone(servers), li, li+1)

	// The client agent joins through the leader's server; it learns the
	// others through gossip.
	client := agenttest.StartClient(t, "", doomed.LAN(), "-node", "cli", "-encrypt", clusterKey)
	cc := consulClient(t, client)
	// Every server's first forwarded write may be lost while Raft's
	// connections come up: warm up, retried as Consul's clients retry.
	for _, a := range append(slices.Clone(servers), client) {
		agenttest.Eventually(t, 60*time.Second, func() error {
			if _, err := consulClient(t, a).KV().Put(&api.KVPair{Key: "warm-up", Value: []byte(a.HTTP)}, nil); err != nil {
				return err
			}
			_, err := consulClient(t, a).Catalog().Register(&api.CatalogRegistration{Node: "warm-up", Address: "10.0.0.1"}, nil)
			return err
		}, output, client.Output)
	}

	t.Run("catalog writes survive the leader's SIGKILL", func(t *testing.T) {
		// Writers register instances of "fault" on an external node
		// through every agent, before, during and after the kill, and
		// record those acknowledged.
		var (
			mu        sync.Mutex
			acked     []string
			afterKill int
			killed    bool
		)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w, a := range append(slices.Clone(servers), client) {
			c := consulClient(t, a)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("fault-%d-%d", w, i)
					if _, err := c.Catalog().Register(&api.CatalogRegistration{Node: "ext", Address: "10.0.0.2",
						Service: &api.AgentService{ID: id, Service: "fault", Port: i + 1}}, nil); err != nil {
						mu.Lock()
						gone := killed && a == doomed
						mu.Unlock()
						if gone {
							return
						}
						// Pace the retries while the cluster recovers.
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
						continue
					}
					mu.Lock()
					acked = append(acked, id)
					if killed {
						afterKill++
					}
					mu.Unlock()
				}
			}()
		}
		count := func(f func() bool) func() error {
			return func() error {
				mu.Lock()
				defer mu.Unlock()
				if !f() {
					return fmt.Errorf("%d writes acknowledged, %d after the kill", len(acked), afterKill)
				}
				return nil
			}
		}
		agenttest.Eventually(t, 30*time.Second, count(func() bool { return len(acked) >= 20 }), output)
		doomed.Kill()
		mu.Lock()
		killed = true
		mu.Unlock()
		agenttest.Eventually(t, 30*time.Second, count(func() bool { return afterKill >= 20 }), output, client.Output)
		close(stop)
		wg.Wait()

		// A new leader among the others.
		agenttest.Eventually(t, 20*time.Second, func() error { return newLeader(t, rest, leader) }, output)
		// Every acknowledged registration is there, read on each server.
		sort.Strings(acked)
		for _, s := range rest {
			agenttest.Eventually(t, 20*time.Second, func() error {
				instances, _, err := consulClient(t, s).Catalog().Service("fault", "", nil)
				if err != nil {
					return err
				}
				have := map[string]bool{}
				for _, i := range instances {
					have[i.ServiceID] = true
				}
				for _, id := range acked {
					if !have[id] {
						return fmt.Errorf("%s: acknowledged registration %s is missing (%d of %d there)", s.HTTP, id, len(instances), len(acked))
					}
				}
				return nil
			}, output)
		}
		t.Logf("%d registrations acknowledged, %d after the kill; all read back", len(acked), afterKill)
	})

	// The client joined through the dead server and forwarded to it; its
	// gateway must now pick the live ones.
	t.Run("client agent fails over", func(t *testing.T) {
		if client.ChildPid("gateway") == 0 {
			t.Fatal("the client agent is not running")
		}
		round := 0
		agenttest.Eventually(t, 20*time.Second, func() error {
			// Ten rounds in a row of KV and catalog writes and reads.
			for range 10 {
				round++
				k := "failover/" + strconv.Itoa(round)
				if _, err := cc.KV().Put(&api.KVPair{Key: k, Value: []byte(k)}, nil); err != nil {
					return fmt.Errorf("put %s: %w", k, err)
				}
				if p, _, err := cc.KV().Get(k, nil); err != nil || p == nil || string(p.Value) != k {
					return fmt.Errorf("get %s: %+v %v", k, p, err)
				}
				id := "after-" + strconv.Itoa(round)
				if _, err := cc.Catalog().Register(&api.CatalogRegistration{Node: "ext", Address: "10.0.0.2",
					Service: &api.AgentService{ID: id, Service: "after", Port: 1}}, nil); err != nil {
					return fmt.Errorf("register %s: %w", id, err)
				}
				instances, _, err := cc.Catalog().Service("after", "", nil)
				if err != nil || !slices.ContainsFunc(instances, func(s *api.CatalogService) bool { return s.ServiceID == id }) {
					return fmt.Errorf("read %s back: %d instances, %v", id, len(instances), err)
				}
			}
			return nil
		}, client.Output)
	})

	t.Run("bad joins", func(t *testing.T) {
		live := rest[0]
		// Nothing listens there: the join fails naming the address, and
		// the agent keeps running.
		dead := "127.0.0.1:" + strconv.Itoa(agenttest.FreePort(t))
		code, out := runCLI(t, "join", "-http-addr", client.HTTP, dead)
		if code == 0 || !strings.Contains(out, dead) {
			t.Errorf("join %s: exit %d, %q; want non-zero naming the address", dead, code, out)
		}
		if _, err := cc.Agent().Members(false); err != nil || client.ChildPid("membership") == 0 {
			t.Errorf("the agent after a failed join: %v", err)
		}

		// An agent with another -encrypt key cannot join, and says why:
		// its retry-join logs it, and `tribune join` fails with it.
		stranger := agenttest.StartServer(t, "", 1, live.LAN(), "-node", "stranger", "-encrypt", otherKey)
		stranger.WaitLeader()
		agenttest.Eventually(t, 20*time.Second, func() error {
			if !strings.Contains(stranger.Output(), "no installed keys could decrypt") {
				return fmt.Errorf("the stranger's log does not say why it cannot join")
			}
			return nil
		}, stranger.Output)
		code, out = runCLI(t, "join", "-http-addr", stranger.HTTP, live.LAN())
		if code == 0 || !strings.Contains(out, live.LAN()) || !strings.Contains(out, "-encrypt") {
			t.Errorf("join with the wrong key: exit %d, %q; want non-zero naming the address and -encrypt", code, out)
		}
		members, err := consulClient(t, live).Agent().Members(false)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			if m.Name == "stranger" {
				t.Errorf("the stranger is in the cluster's pool: %+v", m)
			}
		}
		if own, err := consulClient(t, stranger).Agent().Members(false); err != nil || len(own) != 1 {
			t.Errorf("the stranger's own pool: %+v %v", own, err)
		}
	})
}
