package deploy

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// The compose project shared by every test of the package: TestMain builds
// the image and starts deploy/docker-compose.yml once under a project name
// and subnets of its own; each test leaves the topology as it found it.
var cluster *project

// skipReason is why the container tests cannot run here ("" when they can).
var skipReason string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		skipReason = "container tests skipped in -short mode"
		return m.Run()
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		skipReason = "Docker is not available (`docker info` failed: " + err.Error() + "); the container fault tests need a running Docker daemon"
		return m.Run()
	}
	compose, err := composeCommand()
	if err != nil {
		skipReason = err.Error()
		return m.Run()
	}
	p, err := newProject(compose)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests:", err)
		return 1
	}
	// Tear down on an interrupt too: the containers outlive the test binary.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		p.down()
		os.Exit(1)
	}()
	defer p.down()
	start := time.Now()
	if err := p.up(); err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests:", err)
		p.dumpLogs()
		return 1
	}
	fmt.Fprintf(os.Stderr, "deploy tests: image built and cluster %s ready in %s\n", p.name, time.Since(start).Round(time.Second))
	cluster = p
	code := m.Run()
	if code != 0 {
		p.dumpLogs()
	}
	return code
}

// needCluster skips t when the tests cannot run here.
func needCluster(t *testing.T) *project {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	return cluster
}

// composeCommand finds the Compose tool: `docker compose` or docker-compose.
func composeCommand() ([]string, error) {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}, nil
	}
	return nil, errors.New("neither `docker compose` nor docker-compose is installed; the container fault tests need one")
}

// project is one running instance of deploy/docker-compose.yml.
type project struct {
	compose []string
	dir     string // deploy/
	name    string // the compose project
	image   string
	net     string // the first two octets of the subnets
}

func newProject(compose []string) (*project, error) {
	dir, err := filepath.Abs(".")
	if err != nil {
		return nil, err
	}
	net, err := freeNet()
	if err != nil {
		return nil, err
	}
	tag := fmt.Sprintf("tribtest%d%04d", os.Getpid(), rand.IntN(10000))
	return &project{compose: compose, dir: dir, name: tag, image: "tribune:" + tag, net: net}, nil
}

// freeNet picks 10.X (X in 200-254) used by no Docker network and no route
// of the host, for the three /24 subnets of the project.
func freeNet() (string, error) {
	out, err := exec.Command("sh", "-c",
		`docker network inspect $(docker network ls -q) -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}'; ip -4 route 2>/dev/null`).Output()
	if err != nil {
		return "", fmt.Errorf("listing the Docker networks: %w", err)
	}
	used := string(out)
	for _, i := range rand.Perm(55) {
		n := "10." + strconv.Itoa(200+i)
		if !strings.Contains(used, n+".") && !strings.Contains(used, "10.0.0.0/8") {
			return n, nil
		}
	}
	return "", errors.New("no free 10.X.0.0/16 for the test networks")
}

// env is the environment of every compose command and of demo.sh.
func (p *project) env() []string {
	return append(os.Environ(),
		"COMPOSE_FILE="+filepath.Join(p.dir, "docker-compose.yml"),
		"COMPOSE_PROJECT_NAME="+p.name,
		"TRIBUNE_IMAGE="+p.image,
		"TRIBUNE_NET="+p.net,
		// Published on ports the kernel picks: never a clash.
		"TRIBUNE_DC1_HTTP=127.0.0.1:",
		"TRIBUNE_DC2_HTTP=127.0.0.1:",
		// The WAN cut is seen in seconds rather than Consul's minutes.
		"TRIBUNE_GOSSIP_WAN=small",
	)
}

// run runs a command (compose's when name is "compose") with the
// project's environment and returns its combined output.
func (p *project) run(ctx context.Context, name string, args ...string) (string, error) {
	if name == "compose" {
		name, args = p.compose[0], append(append([]string{}, p.compose[1:]...), args...)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = p.dir
	cmd.Env = p.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// up builds the image (the static binary, then docker build) and starts
// the project, waiting until it is ready.
func (p *project) up() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := p.run(ctx, "bash", "build.sh", p.image); err != nil {
		return fmt.Errorf("building the image: %w", err)
	}
	if _, err := p.run(ctx, "compose", "up", "-d"); err != nil {
		return err
	}
	return p.waitReady(ctx, 4*time.Minute)
}

// down removes the project's containers, networks and volumes and the
// image. It may be called more than once.
func (p *project) down() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := p.run(ctx, "compose", "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests: teardown:", err)
	}
	_, _ = p.run(ctx, "docker", "rmi", "-f", p.image)
}

// dumpLogs prints the last lines of every container's log, to see why a
// test failed.
func (p *project) dumpLogs() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := p.run(ctx, "compose", "logs", "--no-color", "--tail", "40")
	fmt.Fprintln(os.Stderr, "deploy tests: container logs:\n"+out)
}

// The agents of the compose file, with their addresses.
var (
	dc1Servers = []string{"dc1-server1", "dc1-server2", "dc1-server3"}
	dc2Servers = []string{"dc2-server1", "dc2-server2", "dc2-server3"}
	dc1Clients = []string{"dc1-client1", "dc1-client2"}
	allAgents  = []string{"dc1-server1", "dc1-server2", "dc1-server3", "dc1-client1", "dc1-client2",
		"dc2-server1", "dc2-server2", "dc2-server3", "dc2-client1"}
)

// hostOctets are the last two octets of each agent's address on its
// datacenter's network and on the WAN network (0: not on it).
var hostOctets = map[string]struct{ lan, wan string }{
	"dc1-server1": {"1.11", "3.11"}, "dc1-server2": {"1.12", "3.12"}, "dc1-server3": {"1.13", "3.13"},
	"dc1-client1": {"1.21", ""}, "dc1-client2": {"1.22", ""},
	"dc2-server1": {"2.11", "3.21"}, "dc2-server2": {"2.12", "3.22"}, "dc2-server3": {"2.13", "3.23"},
	"dc2-client1": {"2.21", ""},
}

// lanIP is the agent's address on its datacenter's network.
func (p *project) lanIP(svc string) string { return p.net + "." + hostOctets[svc].lan }

// wanIP is a server's address on the WAN network.
func (p *project) wanIP(svc string) string { return p.net + "." + hostOctets[svc].wan }

// serviceAt names the agent whose datacenter address is ip.
func (p *project) serviceAt(ip string) string {
	for svc := range hostOctets {
		if p.lanIP(svc) == ip {
			return svc
		}
	}
	return ""
}

// network is the compose network's Docker name.
func (p *project) network(n string) string { return p.name + "_" + n }

// container is the ID of svc's container, running or not.
func (p *project) container(ctx context.Context, svc string) (string, error) {
	out, err := p.run(ctx, "docker", "ps", "-aq",
		"--filter", "label=com.docker.compose.project="+p.name,
		"--filter", "label=com.docker.compose.service="+svc)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(out)
	if id == "" || strings.Contains(id, "\n") {
		return "", fmt.Errorf("container of %s: found %q", svc, id)
	}
	return id, nil
}

// docker runs `docker args...` on svc's container (its ID appended, or put
// where "{}" stands).
func (p *project) docker(t *testing.T, svc string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := p.container(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	replaced := false
	for i, a := range args {
		if a == "{}" {
			args[i], replaced = id, true
		}
	}
	if !replaced {
		args = append(args, id)
	}
	start := time.Now()
	if _, err := p.run(ctx, "docker", args...); err != nil {
		t.Fatal(err)
	}
	t.Logf("docker %s (%s): %s", strings.Join(args, " "), svc, time.Since(start).Round(time.Millisecond))
}

// disconnect cuts svc off network n.
func (p *project) disconnect(t *testing.T, svc, n string) {
	t.Helper()
	p.docker(t, svc, "network", "disconnect", p.network(n))
}

// connect puts svc back on network n with its fixed address.
func (p *project) connect(t *testing.T, svc, n string) {
	t.Helper()
	ip := p.lanIP(svc)
	if n == "wan" {
		ip = p.wanIP(svc)
	}
	p.docker(t, svc, "network", "connect", "--ip", ip, p.network(n))
}

// client returns a Consul API client for the agent at ip.
func client(t *testing.T, ip string) *api.Client {
	t.Helper()
	return clientWith(t, ip, httpClient)
}

// clientWith returns a Consul API client for the agent at ip over hc.
func clientWith(t *testing.T, ip string, hc *http.Client) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = ip + ":8500"
	cfg.HttpClient = hc
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// httpClient bounds every request of the tests, and dials briefly: an
// address cut off answers nothing.
var httpClient = &http.Client{
	Timeout: 5 * time.Second,
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 8,
	},
}

// waitFor polls cond every 200ms until it returns nil or timeout passes,
// then fails the test with cond's last error.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := cond()
		if err == nil {
			t.Logf("%s: after %s", what, time.Since(start).Round(time.Millisecond))
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitReady waits until every agent container is healthy, each
// datacenter has a leader and its three Raft peers, the six servers are
// alive in the WAN pool and both datacenters answer each other's reads.
func (p *project) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = p.ready(ctx); last == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("cluster not ready after %s: %w", timeout, last)
}

func (p *project) ready(ctx context.Context) error {
	out, err := p.run(ctx, "docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+p.name, "--filter", "health=healthy")
	if err != nil {
		return err
	}
	if n := len(strings.Fields(out)); n < len(allAgents) {
		return fmt.Errorf("%d of %d agent containers healthy", n, len(allAgents))
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, svc := range append(append([]string{}, dc1Servers...), dc2Servers...) {
		cfg := api.DefaultConfig()
		cfg.Address, cfg.HttpClient = p.lanIP(svc)+":8500", hc
		c, err := api.NewClient(cfg)
		if err != nil {
			return err
		}
		peers, err := c.Status().Peers()
		if err != nil || len(peers) != 3 {
			return fmt.Errorf("%s: peers %v, %v", svc, peers, err)
		}
		if l, err := c.Status().Leader(); err != nil || l == "" {
			return fmt.Errorf("%s: leader %q, %v", svc, l, err)
		}
		if _, _, err := c.KV().Get("ready", &api.QueryOptions{RequireConsistent: true}); err != nil {
			return fmt.Errorf("%s: consistent read: %w", svc, err)
		}
		members, err := c.Agent().Members(true)
		if err != nil {
			return fmt.Errorf("%s: WAN members: %w", svc, err)
		}
		alive := 0
		for _, m := range members {
			if m.Status == 1 { // serf.StatusAlive
				alive++
			}
		}
		if alive != 6 {
			return fmt.Errorf("%s: %d servers alive in the WAN pool, want 6", svc, alive)
		}
		other := "dc2"
		if strings.HasPrefix(svc, "dc2") {
			other = "dc1"
		}
		if _, _, err := c.Catalog().Nodes(&api.QueryOptions{Datacenter: other}); err != nil {
			return fmt.Errorf("%s: ?dc=%s: %w", svc, other, err)
		}
	}
	return nil
}

// restore waits until the cluster is whole again after a test's fault.
func (p *project) restore(t *testing.T) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := p.waitReady(ctx, 3*time.Minute); err != nil {
		t.Fatalf("restoring the topology: %v", err)
	}
	t.Logf("topology restored in %s", time.Since(start).Round(time.Millisecond))
}

// leader names the dc1 server that leads the registry shard.
func (p *project) leader(t *testing.T, via string) string {
	t.Helper()
	var svc string
	waitFor(t, 30*time.Second, "dc1 has a leader", func() error {
		l, err := client(t, p.lanIP(via)).Status().Leader()
		if err != nil {
			return err
		}
		host, _, _ := strings.Cut(l, ":")
		if svc = p.serviceAt(host); svc == "" {
			return fmt.Errorf("leader %q is no dc1 server", l)
		}
		return nil
	})
	return svc
}

// load is a steady KV write load: writers each put keys prefix/wN/000i in
// turn through the agents at addrs, at most one write in flight each and
// one every pace, and record the writes acknowledged.
type load struct {
	prefix string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	acked   map[string]string
	lastAck time.Time
	maxGap  time.Duration // the longest time without an acknowledged write
	failed  int
	lastErr error
}

func startLoad(t *testing.T, prefix string, addrs []string, writers int, pace time.Duration) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{prefix: prefix, cancel: cancel, acked: map[string]string{}}
	clients := make([]*api.Client, len(addrs))
	for i, a := range addrs {
		clients[i] = client(t, a)
	}
	for w := range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(pace)
			defer tick.Stop()
			// An agent that failed a write is left out for a while, as a
			// client library would, so that the load keeps its pace.
			skipUntil := make([]time.Time, len(clients))
			next := w
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				for range clients {
					next = (next + 1) % len(clients)
					if time.Now().After(skipUntil[next]) {
						break
					}
				}
				key := fmt.Sprintf("%s/w%d/%06d", prefix, w, i)
				val := key + "@" + strconv.FormatInt(time.Now().UnixNano(), 10)
				_, err := clients[next].KV().Put(&api.KVPair{Key: key, Value: []byte(val)}, (&api.WriteOptions{}).WithContext(ctx))
				now := time.Now()
				l.mu.Lock()
				if err == nil {
					l.acked[key] = val
					if !l.lastAck.IsZero() && now.Sub(l.lastAck) > l.maxGap {
						l.maxGap = now.Sub(l.lastAck)
					}
					l.lastAck = now
				} else if ctx.Err() == nil {
					l.failed++
					l.lastErr = err
					skipUntil[next] = now.Add(3 * time.Second)
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

// acks is the number of writes acknowledged so far.
func (l *load) acks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// stop ends the load and waits for its writers. It may be called twice.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// waitAcks waits until n more writes than now are acknowledged.
func (l *load) waitAcks(t *testing.T, n int, timeout time.Duration, what string) time.Duration {
	t.Helper()
	target := l.acks() + n
	return waitFor(t, timeout, what, func() error {
		if got := l.acks(); got < target {
			l.mu.Lock()
			defer l.mu.Unlock()
			return fmt.Errorf("%d of %d writes acknowledged; %d failed, last error %v", got, target, l.failed, l.lastErr)
		}
		return nil
	})
}

// verify stops the load and checks that every acknowledged write is in the
// store, read consistently through the agent at via.
func (l *load) verify(t *testing.T, via string) {
	t.Helper()
	l.stop()
	var pairs api.KVPairs
	waitFor(t, 30*time.Second, "consistent read of the written keys", func() error {
		var err error
		pairs, _, err = client(t, via).KV().List(l.prefix+"/", &api.QueryOptions{RequireConsistent: true})
		return err
	})
	got := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		got[kv.Key] = string(kv.Value)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := 0
	for k, v := range l.acked {
		if got[k] != v {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged write lost: %s = %q, read %q", k, v, got[k])
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(l.acked))
	}
	t.Logf("all %d acknowledged writes read back (%d keys stored; %d writes failed, last error: %v; longest time without an acknowledged write: %s)",
		len(l.acked), len(got), l.failed, l.lastErr, l.maxGap.Round(time.Millisecond))
}

// addrs are the datacenter addresses of svcs.
func (p *project) addrs(svcs ...string) []string {
	out := make([]string, len(svcs))
	for i, s := range svcs {
		out[i] = p.lanIP(s)
	}
	return out
}

// others is svcs without skip.
func others(svcs []string, skip string) []string {
	var out []string
	for _, s := range svcs {
		if s != skip {
			out = append(out, s)
		}
	}
	return out
}
