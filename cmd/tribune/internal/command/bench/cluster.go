package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tribune/tribune/lib/rpc"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
)

// Local clusters for `tribune bench detect`, `failover` and `kv-cluster`:
// Tribune agents and etcd members run as processes of their own on
// 127.0.0.1, on free ports, each in a directory under one root.

// ports is the bench's port picker: every cluster of one run takes its
// ports from it.
var ports portPicker

// portPicker hands out loopback ports that were free a moment ago, never
// the same one twice: the kernel may give a port just closed out again.
type portPicker struct {
	mu    sync.Mutex
	given map[int]bool
}

func (p *portPicker) pick() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.given == nil {
		p.given = map[int]bool{}
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// Gossip also needs the UDP port.
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		u.Close()
		if !p.given[port] {
			p.given[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port found")
}

// process is a child process the bench started, with its output in a log
// file.
type process struct {
	name    string
	path    string
	args    []string
	logPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

func (p *process) start() error {
	out, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = out, out
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return nil
}

func (p *process) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *process) pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and waits up to grace, then kills.
func (p *process) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// exited reports an error, with the tail of its log, if the process is
// no longer running.
func (p *process) exited() error {
	if p.running() {
		return nil
	}
	return fmt.Errorf("%s exited early; the end of its log (%s):\n%s", p.name, p.logPath, tail(p.logPath, 15))
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// agentOptions are what the agents of a local Tribune cluster share.
type agentOptions struct {
	binary    string // the tribune binary
	gossip    string // -gossip profile
	raftRTT   time.Duration
	pprofPort int // when not 0: server i serves pprof on pprofPort + 10*i (gateway) to +4 (membership)
	logLevel  string
}

// agent is one `tribune agent` of a local cluster.
type agent struct {
	process
	node     string
	server   bool
	dataDir  string
	http     string // host:port
	grpc     string // host:port
	kvPort   int
	lanPort  int
	raftPort int // the registry's Raft port, what /v1/status/leader names
}

// tribuneCluster is a local Tribune datacenter: servers, and the client
// agents started later.
type tribuneCluster struct {
	root    string
	opts    agentOptions
	ports   *portPicker
	servers []*agent
	clients []*agent
}

// newAgent prepares (but does not start) an agent named node in
// root/node. Servers expect `expect` servers; every agent joins join.
func (c *tribuneCluster) newAgent(node string, server bool, expect int, join []string, pprofPort int) (*agent, error) {
	ports := make([]int, 6)
	for i := range ports {
		p, err := c.ports.pick()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	a := &agent{node: node, server: server, dataDir: filepath.Join(c.root, node),
		http: "127.0.0.1:" + strconv.Itoa(ports[0]), grpc: "127.0.0.1:" + strconv.Itoa(ports[1]),
		raftPort: ports[2], kvPort: ports[3], lanPort: ports[4]}
	args := []string{"agent", "-node", node, "-data-dir", a.dataDir,
		"-http-port", strconv.Itoa(ports[0]), "-grpc-port", strconv.Itoa(ports[1]),
		"-server-port", strconv.Itoa(ports[2]), "-kv-port", strconv.Itoa(ports[3]),
		"-serf-lan-port", strconv.Itoa(ports[4]), "-serf-wan-port", strconv.Itoa(ports[5]),
		"-gossip", c.opts.gossip, "-raft-rtt", c.opts.raftRTT.String(),
		"-log-level", c.opts.logLevel, "-stop-timeout", "5s"}
	if server {
		args = append(args, "-server", "-bootstrap-expect", strconv.Itoa(expect))
	}
	for _, j := range join {
		args = append(args, "-retry-join", j)
	}
	if pprofPort > 0 {
		args = append(args, "-pprof-port", strconv.Itoa(pprofPort))
	}
	a.process = process{name: "agent " + node, path: c.opts.binary, args: args,
		logPath: filepath.Join(c.root, node+".log")}
	return a, nil
}

func (a *agent) lan() string { return "127.0.0.1:" + strconv.Itoa(a.lanPort) }

// startTribune starts n servers with -bootstrap-expect n, each joining the
// first, and waits until every one accepts KV writes.
func startTribune(ctx context.Context, root string, n int, opts agentOptions) (*tribuneCluster, error) {
	c := &tribuneCluster{root: root, opts: opts, ports: &ports}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, err
	}
	for i := range n {
		var join []string
		if i > 0 {
			join = []string{c.servers[0].lan()}
		}
		pprof := 0
		if opts.pprofPort > 0 {
			pprof = opts.pprofPort + 10*i
		}
		a, err := c.newAgent(fmt.Sprintf("server-%d", i+1), true, n, join, pprof)
		if err != nil {
			c.stop()
			return nil, err
		}
		if err := a.start(); err != nil {
			c.stop()
			return nil, err
		}
		c.servers = append(c.servers, a)
	}
	for _, s := range c.servers {
		if err := waitWritable(ctx, s, 2*time.Minute); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

// startClient starts a client agent named node that joins the servers and
// waits until the catalog shows its serfHealth check passing.
func (c *tribuneCluster) startClient(ctx context.Context, node string) (*agent, error) {
	var join []string
	for _, s := range c.servers {
		join = append(join, s.lan())
	}
	a, err := c.newAgent(node, false, 0, join, 0)
	if err != nil {
		return nil, err
	}
	if err := a.start(); err != nil {
		return nil, err
	}
	c.clients = append(c.clients, a)
	err = poll(ctx, time.Minute, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := a.exited(); err != nil {
			return false, err
		}
		// A busy machine may time a request out: try again.
		st, err := serfHealth(ctx, c.servers[0].http, node)
		return err == nil && st == "passing", nil
	})
	if err != nil {
		return nil, fmt.Errorf("client %s never passing in the catalog: %w", node, err)
	}
	return a, nil
}

// stop stops every agent, clients first.
func (c *tribuneCluster) stop() {
	var wg sync.WaitGroup
	for _, a := range append(append([]*agent(nil), c.clients...), c.servers...) {
		wg.Go(func() { a.stop(10 * time.Second) })
	}
	wg.Wait()
}

// pids returns the agents' process IDs (their services are their
// children).
func (c *tribuneCluster) pids() []int {
	var out []int
	for _, a := range append(append([]*agent(nil), c.servers...), c.clients...) {
		if a.running() {
			out = append(out, a.pid())
		}
	}
	return out
}

// grpcAddrs returns the servers' public gRPC addresses.
func (c *tribuneCluster) grpcAddrs() []string {
	var out []string
	for _, s := range c.servers {
		out = append(out, s.grpc)
	}
	return out
}

// waitWritable waits until a KV put through a's gRPC API succeeds.
func waitWritable(ctx context.Context, a *agent, timeout time.Duration) error {
	d, err := newGRPCDriver(a.grpc)
	if err != nil {
		return err
	}
	defer d.close()
	err = poll(ctx, timeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := a.exited(); err != nil {
			return false, err
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return d.put(rctx, "bench-ready/"+a.node, []byte("1")) == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%s never accepted a KV write: %w", a.name, err)
	}
	return nil
}

// kvLeader asks a's kv service (on its unix socket) for the KV shard's
// leader and returns its Raft address, empty when there is none.
func kvLeader(ctx context.Context, a *agent) (string, error) {
	conn, err := rpc.Dial(rpc.UnixPrefix + filepath.Join(a.dataDir, "kv.sock"))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := statusv1.NewStatusServiceClient(conn).Leader(rctx, &statusv1.LeaderRequest{})
	if err != nil {
		return "", err
	}
	return resp.GetAddress(), nil
}

// httpLeader returns what a's /v1/status/leader names: the registry
// shard's leader.
func httpLeader(ctx context.Context, a *agent) (string, error) {
	var leader string
	err := getJSON(ctx, "http://"+a.http+"/v1/status/leader", &leader)
	return leader, err
}

// serfHealth returns the status of node's serfHealth check in the catalog
// of the agent at addr; empty when it has none.
func serfHealth(ctx context.Context, addr, node string) (string, error) {
	var checks []struct {
		CheckID string
		Status  string
	}
	if err := getJSON(ctx, "http://"+addr+"/v1/health/node/"+node, &checks); err != nil {
		return "", err
	}
	for _, c := range checks {
		if c.CheckID == "serfHealth" {
			return c.Status, nil
		}
	}
	return "", nil
}

// memberStatus returns node's gossip status (Consul's numbers: 1 alive, 2
// leaving, 3 left, 4 failed) as the agent at addr sees it; 0 when it is
// not a member.
func memberStatus(ctx context.Context, addr, node string) (int, error) {
	var members []struct {
		Name   string
		Status int
	}
	if err := getJSON(ctx, "http://"+addr+"/v1/agent/members", &members); err != nil {
		return 0, err
	}
	for _, m := range members {
		if m.Name == node {
			return m.Status, nil
		}
	}
	return 0, nil
}

// forceLeave removes a failed node from the pool at once (?prune).
func forceLeave(ctx context.Context, addr, node string) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPut, "http://"+addr+"/v1/agent/force-leave/"+node+"?prune", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("force-leave %s: HTTP %d: %s", node, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// getJSON GETs url (with a 2 s timeout) and decodes its JSON body into v.
func getJSON(ctx context.Context, url string, v any) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// poll calls cond every interval until it returns true, an error, or
// timeout passes or ctx ends. A cond error ends the poll.
func poll(ctx context.Context, timeout, interval time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %s: %w", timeout, ctx.Err())
		case <-t.C:
		}
	}
}

// etcdCluster is a local etcd cluster.
type etcdCluster struct {
	members []*process
	clients []string // host:port of each member's client URL
}

// startEtcd starts an n-member etcd cluster from binary, in root, and
// waits until it accepts writes.
func startEtcd(ctx context.Context, binary, root string, n int) (*etcdCluster, error) {
	type member struct{ name, peer, client string }
	var ms []member
	var initial []string
	for i := range n {
		pp, err := ports.pick()
		if err != nil {
			return nil, err
		}
		cp, err := ports.pick()
		if err != nil {
			return nil, err
		}
		m := member{name: fmt.Sprintf("etcd-%d", i+1), peer: "http://127.0.0.1:" + strconv.Itoa(pp),
			client: "127.0.0.1:" + strconv.Itoa(cp)}
		ms = append(ms, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	c := &etcdCluster{}
	for _, m := range ms {
		p := &process{name: m.name, path: binary, logPath: filepath.Join(root, m.name+".log"), args: []string{
			"--name", m.name, "--data-dir", filepath.Join(root, m.name),
			"--listen-client-urls", "http://" + m.client, "--advertise-client-urls", "http://" + m.client,
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "tribune-bench", "--log-level", "warn",
		}}
		if err := p.start(); err != nil {
			c.stop()
			return nil, err
		}
		c.members = append(c.members, p)
		c.clients = append(c.clients, m.client)
	}
	for i, addr := range c.clients {
		d, err := newEtcdDriver([]string{addr})
		if err != nil {
			c.stop()
			return nil, err
		}
		err = poll(ctx, 2*time.Minute, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
			if err := c.members[i].exited(); err != nil {
				return false, err
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return d.put(rctx, "bench-ready", []byte("1")) == nil, nil
		})
		d.close()
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("%s never accepted a write: %w", c.members[i].name, err)
		}
	}
	return c, nil
}

func (c *etcdCluster) stop() {
	var wg sync.WaitGroup
	for _, p := range c.members {
		wg.Go(func() { p.stop(10 * time.Second) })
	}
	wg.Wait()
}

func (c *etcdCluster) pids() []int {
	var out []int
	for _, p := range c.members {
		if p.running() {
			out = append(out, p.pid())
		}
	}
	return out
}

// treeCPU returns the CPU time (user + system) used so far by the
// processes pids and all their descendants that still run.
func treeCPU(pids []int) (time.Duration, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, err
	}
	children := map[int][]int{}
	cpu := map[int]time.Duration{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue
		}
		st, err := parseStat(b)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], pid)
		cpu[pid] = st.cpu
	}
	var total time.Duration
	seen := map[int]bool{}
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		total += cpu[pid]
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, p := range pids {
		walk(p)
	}
	return total, nil
}
