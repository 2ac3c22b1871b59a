// Package agenttest builds the tribune binary and runs real agents from it
// for end-to-end tests: each on free loopback ports with its own data
// directory, stopped when the test ends.
package agenttest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/rpc"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// Binary builds ./cmd/tribune once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tribune-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "tribune")
		cmd := exec.Command("go", "build", "-o", binary, "github.com/tribune/tribune/cmd/tribune")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// FreePort returns a loopback TCP port that was free a moment ago and that
// it has not returned before in this process (the kernel may hand a port
// just closed out again, to two agents of one test).
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given[p] {
			given[p] = true
			return p
		}
	}
}

// Agent is a running `tribune agent -dev`.
type Agent struct {
	t       testing.TB
	DataDir string
	HTTP    string // host:port of the HTTP API
	GRPC    string // host:port of the public gRPC API
	KVPort  int
	// ServerPort is the registry's Raft port: what /v1/status/leader names.
	ServerPort int
	// SerfLANPort and SerfWANPort are the gossip ports.
	SerfLANPort, SerfWANPort int
	args                     []string

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// Start starts a -dev agent (a single server) in dataDir (a new temporary
// one when empty) and waits until it has a leader.
func Start(t testing.TB, dataDir string, extra ...string) *Agent {
	t.Helper()
	return start(t, dataDir, []string{"-dev"}, extra...)
}

// StartClient starts a client agent (no -server) in dataDir that joins the
// server at serverLAN (its LAN gossip address), and waits until it reaches
// a leader through it.
func StartClient(t testing.TB, dataDir, serverLAN string, extra ...string) *Agent {
	t.Helper()
	return start(t, dataDir, []string{"-retry-join", serverLAN, "-gossip", "loopback"}, extra...)
}

// StartServer starts a server agent (-server -bootstrap-expect expect) in
// dataDir that joins the agent at join (a LAN gossip address) when join is
// not empty. It does not wait for a leader: with expect above 1 there is
// none until enough servers run; call WaitLeader.
func StartServer(t testing.TB, dataDir string, expect int, join string, extra ...string) *Agent {
	t.Helper()
	mode := []string{"-server", "-bootstrap-expect", strconv.Itoa(expect), "-gossip", "loopback"}
	if join != "" {
		mode = append(mode, "-retry-join", join)
	}
	a := newAgent(t, dataDir, mode, extra...)
	a.start()
	t.Cleanup(a.Kill)
	return a
}

func start(t testing.TB, dataDir string, mode []string, extra ...string) *Agent {
	t.Helper()
	a := newAgent(t, dataDir, mode, extra...)
	a.start()
	t.Cleanup(a.Kill)
	a.WaitLeader()
	return a
}

func newAgent(t testing.TB, dataDir string, mode []string, extra ...string) *Agent {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	a := &Agent{t: t, DataDir: dataDir, KVPort: FreePort(t), ServerPort: FreePort(t),
		SerfLANPort: FreePort(t), SerfWANPort: FreePort(t)}
	httpPort, grpcPort := FreePort(t), FreePort(t)
	a.HTTP = "127.0.0.1:" + strconv.Itoa(httpPort)
	a.GRPC = "127.0.0.1:" + strconv.Itoa(grpcPort)
	a.args = append(append([]string{"agent"}, mode...), "-data-dir", dataDir,
		"-http-port", strconv.Itoa(httpPort), "-grpc-port", strconv.Itoa(grpcPort),
		"-kv-port", strconv.Itoa(a.KVPort), "-server-port", strconv.Itoa(a.ServerPort),
		"-serf-lan-port", strconv.Itoa(a.SerfLANPort), "-serf-wan-port", strconv.Itoa(a.SerfWANPort),
		"-raft-rtt", "10ms", "-stop-timeout", "5s")
	a.args = append(a.args, extra...)
	return a
}

func (a *Agent) start() {
	a.cmd = exec.Command(Binary(a.t), a.args...)
	a.out = &syncBuffer{}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.done = make(chan error, 1)
	go func() { a.done <- a.cmd.Wait() }()
}

// Restart starts the agent again on the same data directory and ports.
func (a *Agent) Restart() {
	a.t.Helper()
	a.start()
	a.WaitLeader()
}

// Rerun starts the agent again on the same data directory and ports
// without waiting for a leader: the servers of a -bootstrap-expect cluster
// restarted together need each other to elect one. Output then holds only
// what the new run prints.
func (a *Agent) Rerun() {
	a.t.Helper()
	a.start()
}

// Output returns what the agent has printed so far.
func (a *Agent) Output() string { return a.out.String() }

// URL returns the agent's HTTP URL for path.
func (a *Agent) URL(path string) string { return "http://" + a.HTTP + path }

// WaitLeader polls until both shards have a leader: /v1/status/leader
// names the catalog shard's, and a linearizable KV read, which needs the
// KV shard's, answers (404: the probed key does not exist).
func (a *Agent) WaitLeader() {
	a.t.Helper()
	get := func(path string) (int, string, error) {
		resp, err := http.Get(a.URL(path))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, strings.TrimSpace(b.String()), nil
	}
	Eventually(a.t, 30*time.Second, func() error {
		code, body, err := get("/v1/status/leader")
		if err != nil {
			return err
		}
		if code != 200 || body == `""` {
			return fmt.Errorf("leader: %d %s", code, body)
		}
		if code, body, err = get("/v1/kv/agenttest-leader-probe"); err != nil {
			return err
		}
		if code != 200 && code != 404 {
			return fmt.Errorf("KV shard: %d %s", code, body)
		}
		return nil
	}, a.Output)
}

// GRPCConn dials the agent's public gRPC port; the connection closes when
// the test ends.
func (a *Agent) GRPCConn() *grpc.ClientConn {
	a.t.Helper()
	conn, err := rpc.Dial(a.GRPC)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { conn.Close() })
	return conn
}

// LAN returns the agent's LAN gossip address.
func (a *Agent) LAN() string { return "127.0.0.1:" + strconv.Itoa(a.SerfLANPort) }

// Pid returns the agent's process ID.
func (a *Agent) Pid() int { return a.cmd.Process.Pid }

// ChildPid returns the process ID of the agent's child running the named
// service, or 0.
func (a *Agent) ChildPid(service string) int {
	// Each thread of the agent lists the children it forked.
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", a.Pid()))
	var pids []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			pids = append(pids, strings.Fields(string(b))...)
		}
	}
	for _, f := range pids {
		pid, _ := strconv.Atoi(f)
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 2 && args[1] == "service" && args[2] == service {
			return pid
		}
	}
	return 0
}

// Stop sends SIGTERM and waits for the agent to exit, returning its error
// (nil for exit status 0).
func (a *Agent) Stop(timeout time.Duration) error {
	a.t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		return err
	case <-time.After(timeout):
		a.Kill()
		return fmt.Errorf("agent did not stop within %v", timeout)
	}
}

// Wait waits for the agent to exit by itself and returns its error (nil
// for exit status 0).
func (a *Agent) Wait(timeout time.Duration) error {
	a.t.Helper()
	select {
	case err := <-a.done:
		return err
	case <-time.After(timeout):
		a.Kill()
		return fmt.Errorf("agent did not exit within %v", timeout)
	}
}

// Kill kills the agent if it still runs; its children die with it.
func (a *Agent) Kill() {
	if a.cmd == nil || a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Kill()
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
	}
}

// Eventually polls cond until it returns nil or timeout passes, then fails
// the test with the last error and, if given, diagnostic output.
func Eventually(t testing.TB, timeout time.Duration, cond func() error, diag ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 250*time.Millisecond) {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(pause)
	}
	var extra string
	for _, d := range diag {
		extra += "\n" + d()
	}
	t.Fatalf("condition not met within %v: %v%s", timeout, err, extra)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
