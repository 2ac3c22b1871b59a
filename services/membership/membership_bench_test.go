package membership_test

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/services/membership"
)

// BenchmarkGossipConvergence measures how long a LAN pool of N agents in
// this process, on loopback and real memberlist pools, takes to converge:
// from the moment N-1 fresh agents start joining the first one, all at
// once, to the moment every agent sees all N members alive. Each iteration
// is one whole run; the convergence times of the runs are reported as
// p50-ms, p99-ms and max-ms (nearest rank: with fewer than 100 runs, p99
// is the slowest run). Run it with a fixed count of runs:
//
//	go test -run '^$' -bench GossipConvergence -benchtime 10x ./services/membership
func BenchmarkGossipConvergence(b *testing.B) {
	profiles := []struct {
		name   string
		config func() *memberlist.Config
	}{
		{"lan", memberlist.DefaultLANConfig},
		{"small", membership.SmallClusterGossip},
		{"loopback", membership.LoopbackGossip},
	}
	for _, p := range profiles {
		for _, n := range []int{32, 128} {
			b.Run(fmt.Sprintf("%s/n=%d", p.name, n), func(b *testing.B) {
				var runs []time.Duration
				for b.Loop() {
					runs = append(runs, convergeOnce(b, n, p.config))
				}
				slices.Sort(runs)
				b.ReportMetric(0, "ns/op") // setup and teardown dominate it
				b.ReportMetric(benchMs(nearestRank(runs, 50)), "p50-ms")
				b.ReportMetric(benchMs(nearestRank(runs, 99)), "p99-ms")
				b.ReportMetric(benchMs(runs[len(runs)-1]), "max-ms")
			})
		}
	}
}

// convergeOnce starts n agents with gossip timings from config, joins
// agents 1..n-1 to agent 0 concurrently, and returns the time until every
// agent sees n alive members. The agents are shut down before it returns.
func convergeOnce(b *testing.B, n int, config func() *memberlist.Config) time.Duration {
	b.Helper()
	// Only the convergence is timed; b.Loop wants the timer running.
	b.StopTimer()
	defer b.StartTimer()
	agents := make([]*membership.Agent, 0, n)
	defer func() {
		var wg sync.WaitGroup
		for _, a := range agents {
			wg.Go(func() { _ = a.Shutdown() })
		}
		wg.Wait()
	}()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range n {
		c := membership.DefaultConfig()
		c.NodeName, c.NodeID = "bench-"+strconv.Itoa(i), nodeid.New()
		c.LAN = membership.PoolConfig{BindAddr: "127.0.0.1", Gossip: config()}
		c.Logger = discard
		a, err := membership.Start(c)
		if err != nil {
			b.Fatalf("start agent %d of %d: %v", i, n, err)
		}
		agents = append(agents, a)
	}
	seed := "127.0.0.1:" + strconv.Itoa(agents[0].DefaultPort(false))

	b.StartTimer()
	start := time.Now()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for _, a := range agents[1:] {
		wg.Go(func() {
			if _, err := a.LAN().Join([]string{seed}, true); err != nil {
				errs <- err
			}
		})
	}
	deadline := start.Add(2 * time.Minute)
	for !converged(agents) {
		if time.Now().After(deadline) {
			b.Fatalf("%d agents did not converge within 2m: %s", n, convergence(agents))
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("join: %v", err)
	}
	return took
}

// converged reports whether every agent sees every agent alive. It checks
// memberlist's cheap count first: serf's Members copies every member's
// tags, which for 128 agents polled often would starve the pools.
func converged(agents []*membership.Agent) bool {
	for _, a := range agents {
		if a.LAN().Memberlist().NumMembers() != len(agents) {
			return false
		}
	}
	for _, a := range agents {
		alive := 0
		for _, m := range a.LAN().Members() {
			if m.Status == serf.StatusAlive {
				alive++
			}
		}
		if alive != len(agents) {
			return false
		}
	}
	return true
}

// convergence describes how far the agents are from converging: the
// fewest members any agent knows, and the fewest it sees alive.
func convergence(agents []*membership.Agent) string {
	known, alive := len(agents), len(agents)
	for _, a := range agents {
		known = min(known, a.LAN().Memberlist().NumMembers())
		n := 0
		for _, m := range a.LAN().Members() {
			if m.Status == serf.StatusAlive {
				n++
			}
		}
		alive = min(alive, n)
	}
	return fmt.Sprintf("the least informed agent knows %d members and sees %d alive", known, alive)
}

// nearestRank returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p percent of the
// values at or below it.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func benchMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
