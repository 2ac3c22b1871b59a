package membership_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/lib/rpc"
	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	"github.com/tribune/tribune/services/membership"
	"github.com/tribune/tribune/services/membership/server"
	"github.com/tribune/tribune/services/membership/tags"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLogger discards the pools' logs unless MEMBERSHIP_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("MEMBERSHIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConfig is an agent on 127.0.0.1, free ports, loopback gossip
// timings and short leave delays.
func testConfig(t *testing.T, name, dc string, isServer bool) membership.Config {
	t.Helper()
	c := membership.DefaultConfig()
	c.NodeName, c.NodeID, c.Datacenter, c.Server = name, nodeid.New(), dc, isServer
	c.GRPCAddress = "127.0.0.1:8502"
	c.BootstrapExpect = 3
	c.LAN = membership.PoolConfig{BindAddr: "127.0.0.1", Gossip: membership.LoopbackGossip()}
	c.WAN = membership.PoolConfig{BindAddr: "127.0.0.1", Gossip: membership.LoopbackGossip()}
	c.LeavePropagateDelay = 100 * time.Millisecond
	c.LeaveTimeout = 5 * time.Second
	c.ReapInterval = time.Second
	c.RetryInterval = 200 * time.Millisecond
	c.Logger = testLogger()
	c.ListenAddress = "unix://" + filepath.Join(t.TempDir(), "m.sock")
	return c
}

// start starts an agent that the test shuts down at its end.
func start(t *testing.T, cfg membership.Config) *membership.Agent {
	t.Helper()
	a, err := membership.Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.NodeName, err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	return a
}

func newServer(t *testing.T, a server.Agent) *server.Server {
	t.Helper()
	s, err := server.New(a)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func addr(a *membership.Agent, wan bool) string {
	return "127.0.0.1:" + strconv.Itoa(a.DefaultPort(wan))
}

// eventually polls cond every 20ms until it returns nil or d has passed.
func eventually(t *testing.T, d time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusOf returns the status of the named member as s sees the pool, or
// NONE when it is not listed.
func statusOf(ctx context.Context, s *server.Server, wan bool, name string) membershipv1.MemberStatus {
	resp, err := s.ListMembers(ctx, &membershipv1.ListMembersRequest{Wan: wan})
	if err != nil {
		return membershipv1.MemberStatus_MEMBER_STATUS_NONE_UNSPECIFIED
	}
	for _, m := range resp.Members {
		if m.Name == name {
			return m.Status
		}
	}
	return membershipv1.MemberStatus_MEMBER_STATUS_NONE_UNSPECIFIED
}

func wantStatus(ctx context.Context, s *server.Server, wan bool, name string, want membershipv1.MemberStatus) func() error {
	return func() error {
		if got := statusOf(ctx, s, wan, name); got != want {
			return fmt.Errorf("%s is %v, want %v", name, got, want)
		}
		return nil
	}
}

func join(t *testing.T, s *server.Server, wan bool, addrs ...string) {
	t.Helper()
	resp, err := s.Join(t.Context(), &membershipv1.JoinRequest{Addresses: addrs, Wan: wan})
	if err != nil {
		t.Fatalf("join %v: %v", addrs, err)
	}
	if int(resp.Joined) != len(addrs) {
		t.Fatalf("join %v: joined %d", addrs, resp.Joined)
	}
}

func TestThreeMembersJoinAndSeeEachOtherAlive(t *testing.T) {
	ctx := t.Context()
	cfgA := testConfig(t, "a", "dc1", true)
	a := start(t, cfgA)
	b := start(t, testConfig(t, "b", "dc1", false))
	c := start(t, testConfig(t, "c", "dc1", false))
	sa, sb, sc := newServer(t, a), newServer(t, b), newServer(t, c)
	join(t, sb, false, addr(a, false))
	join(t, sc, false, addr(b, false)) // c learns of a through b

	took := eventually(t, 10*time.Second, func() error {
		for _, s := range []*server.Server{sa, sb, sc} {
			for _, n := range []string{"a", "b", "c"} {
				if err := wantStatus(ctx, s, false, n, membershipv1.MemberStatus_MEMBER_STATUS_ALIVE)(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	t.Logf("three members alive everywhere after %v", took)

	resp, err := sc.ListMembers(ctx, &membershipv1.ListMembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resp.Members {
		if m.Tags == nil || m.Addr != "127.0.0.1" || m.Port == 0 || m.ProtocolCur == 0 || m.DelegateCur == 0 {
			t.Errorf("member %s: %+v", m.Name, m)
		}
		wantRole := tags.RoleClient
		if m.Name == "a" {
			wantRole = tags.RoleServer
			if m.Tags[tags.Port] != "8300" || m.Tags[tags.Expect] != "3" || m.Tags[tags.ID] != cfgA.NodeID {
				t.Errorf("server tags: %v", m.Tags)
			}
		} else if _, ok := m.Tags[tags.Port]; ok {
			t.Errorf("client %s has a port tag: %v", m.Name, m.Tags)
		}
		for k, want := range map[string]string{
			tags.Role: wantRole, tags.Datacenter: "dc1", tags.Version: "2", tags.VersionMin: "2",
			tags.VersionMax: "3", tags.Build: "0.0.0-dev", tags.GRPC: "127.0.0.1:8502",
		} {
			if got := m.Tags[k]; got != want {
				t.Errorf("member %s tag %s = %q, want %q", m.Name, k, got, want)
			}
		}
	}
	// The client has no WAN pool: its WAN member list is empty, as Consul's.
	wan, err := sb.ListMembers(ctx, &membershipv1.ListMembersRequest{Wan: true})
	if err != nil || len(wan.Members) != 0 {
		t.Errorf("client WAN members: %v, %v", wan, err)
	}
}

func TestFailedLeftAndForceLeave(t *testing.T) {
	ctx := t.Context()
	a := start(t, testConfig(t, "a", "dc1", true))
	bc := testConfig(t, "b", "dc1", false)
	bc.LeavePropagateDelay = time.Second // b's leave must reach a before b stops
	b := start(t, bc)
	c := start(t, testConfig(t, "c", "dc1", false))
	d := start(t, testConfig(t, "d", "dc1", false))
	sa := newServer(t, a)
	join(t, sa, false, addr(b, false), addr(c, false), addr(d, false))
	for _, n := range []string{"b", "c", "d"} {
		eventually(t, 10*time.Second, wantStatus(ctx, sa, false, n, membershipv1.MemberStatus_MEMBER_STATUS_ALIVE))
	}

	// c stops without leaving: it is seen failed.
	_ = c.Shutdown()
	took := eventually(t, 10*time.Second, wantStatus(ctx, sa, false, "c", membershipv1.MemberStatus_MEMBER_STATUS_FAILED))
	t.Logf("a stopped member was seen failed after %v", took)

	// b leaves and stops: it is seen left, not failed.
	if err := b.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	_ = b.Shutdown()
	took = eventually(t, 10*time.Second, wantStatus(ctx, sa, false, "b", membershipv1.MemberStatus_MEMBER_STATUS_LEFT))
	t.Logf("a member that left was seen left %v after its Leave returned", took)

	// Force-leave of the failed c makes it left; with prune it is gone.
	if _, err := sa.ForceLeave(ctx, &membershipv1.ForceLeaveRequest{Node: "c"}); err != nil {
		t.Fatalf("force-leave: %v", err)
	}
	eventually(t, 5*time.Second, wantStatus(ctx, sa, false, "c", membershipv1.MemberStatus_MEMBER_STATUS_LEFT))
	_ = d.Shutdown()
	eventually(t, 10*time.Second, wantStatus(ctx, sa, false, "d", membershipv1.MemberStatus_MEMBER_STATUS_FAILED))
	if _, err := sa.ForceLeave(ctx, &membershipv1.ForceLeaveRequest{Node: "d", Prune: true}); err != nil {
		t.Fatalf("force-leave -prune: %v", err)
	}
	eventually(t, 5*time.Second, wantStatus(ctx, sa, false, "d", membershipv1.MemberStatus_MEMBER_STATUS_NONE_UNSPECIFIED))

	for _, tc := range []struct {
		name string
		req  *membershipv1.ForceLeaveRequest
		code codes.Code
	}{
		{"unknown node", &membershipv1.ForceLeaveRequest{Node: "nope"}, codes.NotFound},
		{"no node", &membershipv1.ForceLeaveRequest{}, codes.InvalidArgument},
		{"wan on a client", &membershipv1.ForceLeaveRequest{Node: "a", Wan: true}, codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sa
			if tc.req.Wan {
				s = newServer(t, start(t, testConfig(t, "client", "dc1", false)))
			}
			_, err := s.ForceLeave(ctx, tc.req)
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}
}

// lossyTransport is memberlist's network transport with a switch that
// drops every outgoing UDP packet (gossip, probes, acks); TCP streams
// still go through.
type lossyTransport struct {
	*memberlist.NetTransport
	drop atomic.Bool
}

func newLossyTransport(t *testing.T) *lossyTransport {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		Logger:    log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &lossyTransport{NetTransport: nt}
}

func (l *lossyTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if l.drop.Load() {
		return time.Now(), nil
	}
	return l.NetTransport.WriteTo(b, addr)
}

func (l *lossyTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if l.drop.Load() {
		return time.Now(), nil
	}
	return l.NetTransport.WriteToAddress(b, a)
}

// A leave whose gossip never arrives still reaches the other members:
// the leaving agent pushes its state to them over TCP, and they see it
// left rather than failed.
func TestLeaveReachesPeersWhenGossipIsLost(t *testing.T) {
	ctx := t.Context()
	a := start(t, testConfig(t, "a", "dc1", true))
	tr := newLossyTransport(t)
	bc := testConfig(t, "b", "dc1", false)
	bc.LAN.Gossip.Transport = tr
	bc.LAN.BindPort = tr.GetAutoBindPort()
	b := start(t, bc)
	sa := newServer(t, a)
	join(t, sa, false, addr(b, false))
	eventually(t, 10*time.Second, wantStatus(ctx, sa, false, "b", membershipv1.MemberStatus_MEMBER_STATUS_ALIVE))

	tr.drop.Store(true)
	if err := b.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	_ = b.Shutdown()
	eventually(t, 10*time.Second, wantStatus(ctx, sa, false, "b", membershipv1.MemberStatus_MEMBER_STATUS_LEFT))
}

func TestWANDatacenters(t *testing.T) {
	ctx := t.Context()
	s1 := start(t, testConfig(t, "s1", "dc1", true))
	s2 := start(t, testConfig(t, "s2", "dc2", true))
	s3 := start(t, testConfig(t, "s3", "dc3", true))
	client := start(t, testConfig(t, "c1", "dc1", false))
	srv1, srv2, srv3, srvC := newServer(t, s1), newServer(t, s2), newServer(t, s3), newServer(t, client)

	// Servers only: a client's WAN join fails before any network call.
	_, err := srvC.Join(ctx, &membershipv1.JoinRequest{Addresses: []string{addr(s1, true)}, Wan: true})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "server") {
		t.Errorf("client WAN join: %v", err)
	}
	if dcs, err := srvC.ListDatacenters(ctx, &membershipv1.ListDatacentersRequest{}); err != nil || strings.Join(dcs.Datacenters, ",") != "dc1" {
		t.Errorf("client datacenters: %v, %v", dcs, err)
	}
	if dcs, err := srv1.ListDatacenters(ctx, &membershipv1.ListDatacentersRequest{}); err != nil || strings.Join(dcs.Datacenters, ",") != "dc1" {
		t.Errorf("datacenters before the WAN join: %v, %v", dcs, err)
	}

	join(t, srv1, true, addr(s2, true), addr(s3, true))
	for _, s := range []*server.Server{srv1, srv2, srv3} {
		for _, n := range []string{"s1.dc1", "s2.dc2", "s3.dc3"} {
			eventually(t, 10*time.Second, wantStatus(ctx, s, true, n, membershipv1.MemberStatus_MEMBER_STATUS_ALIVE))
		}
	}
	for _, tc := range []struct {
		s     *server.Server
		local string
	}{{srv1, "dc1"}, {srv2, "dc2"}, {srv3, "dc3"}} {
		eventually(t, 5*time.Second, func() error {
			dcs, err := tc.s.ListDatacenters(ctx, &membershipv1.ListDatacentersRequest{})
			if err != nil {
				return err
			}
			if len(dcs.Datacenters) != 3 || dcs.Datacenters[0] != tc.local {
				return fmt.Errorf("datacenters from %s: %v", tc.local, dcs.Datacenters)
			}
			return nil
		})
	}
	// The LAN pools stay apart.
	if st := statusOf(ctx, srv1, false, "s2"); st != membershipv1.MemberStatus_MEMBER_STATUS_NONE_UNSPECIFIED {
		t.Errorf("s2 is in dc1's LAN pool: %v", st)
	}
}

// freePort returns a TCP port where nothing listens (now).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestJoinErrors(t *testing.T) {
	s := newServer(t, start(t, testConfig(t, "a", "dc1", true)))
	dead := "127.0.0.1:" + strconv.Itoa(freePort(t))
	for _, tc := range []struct {
		name  string
		addrs []string
		code  codes.Code
		msg   string
	}{
		{"nothing listens", []string{dead}, codes.Unavailable, dead},
		{"no address", nil, codes.InvalidArgument, "address"},
		{"empty address", []string{""}, codes.InvalidArgument, "empty address"},
		{"bad port", []string{"127.0.0.1:99999"}, codes.InvalidArgument, "127.0.0.1:99999"},
		{"unclosed bracket", []string{"[::1"}, codes.InvalidArgument, "[::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Join(t.Context(), &membershipv1.JoinRequest{Addresses: tc.addrs})
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v naming %q", err, tc.code, tc.msg)
			}
		})
	}
}

// A join address without a port gets the pool's port.
func TestJoinDefaultPort(t *testing.T) {
	port := freePort(t)
	cfgA := testConfig(t, "a", "dc1", false)
	cfgA.LAN.BindPort = port
	a := start(t, cfgA)
	cfgB := testConfig(t, "b", "dc1", false)
	cfgB.LAN.BindAddr = "127.0.0.2"
	cfgB.LAN.BindPort = port
	if l, err := net.ListenPacket("udp", "127.0.0.2:0"); err != nil {
		t.Skipf("127.0.0.2 is not usable here: %v", err)
	} else {
		l.Close()
	}
	b := start(t, cfgB)
	join(t, newServer(t, b), false, "127.0.0.1")
	eventually(t, 10*time.Second, wantStatus(t.Context(), newServer(t, a), false, "b", membershipv1.MemberStatus_MEMBER_STATUS_ALIVE))
}

func TestEncryption(t *testing.T) {
	const (
		key1 = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
		key2 = "ZUBFOV1M1jeR/BVuoNpJN0WFivZqm1WJkF2yg6s9dG0="
	)
	cfg := testConfig(t, "a", "dc1", false)
	cfg.EncryptKey = key1
	a := start(t, cfg)
	if !a.LAN().EncryptionEnabled() {
		t.Fatal("encryption is off")
	}
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"same key", key1, true},
		{"other key", key2, false},
		{"no key", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "b-"+strings.ReplaceAll(tc.name, " ", "-"), "dc1", false)
			cfg.EncryptKey = tc.key
			b := newServer(t, start(t, cfg))
			_, err := b.Join(t.Context(), &membershipv1.JoinRequest{Addresses: []string{addr(a, false)}})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), addr(a, false)) || !strings.Contains(err.Error(), "encrypt") {
				t.Fatalf("join with %s: %v", tc.name, err)
			}
			t.Logf("join with %s: %v", tc.name, err)
		})
	}

	for _, tc := range []struct{ key, msg string }{
		{"not base64!", "not valid base64"},
		{"c2hvcnQ=", "decodes to 5 bytes"},
	} {
		cfg := testConfig(t, "x", "dc1", false)
		cfg.EncryptKey = tc.key
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("key %q: %v, want %q", tc.key, err, tc.msg)
		}
		if _, err := membership.Start(cfg); err == nil {
			t.Errorf("key %q: started", tc.key)
		}
	}
}

// A restarted agent rejoins the members in its snapshot without a join.
func TestSnapshotRejoin(t *testing.T) {
	a := start(t, testConfig(t, "a", "dc1", true))
	cfgB := testConfig(t, "b", "dc1", false)
	cfgB.DataDir = t.TempDir()
	b := start(t, cfgB)
	join(t, newServer(t, b), false, addr(a, false))
	eventually(t, 10*time.Second, wantStatus(t.Context(), newServer(t, a), false, "b", membershipv1.MemberStatus_MEMBER_STATUS_ALIVE))
	if _, err := os.Stat(filepath.Join(cfgB.DataDir, "serf", "local.snapshot")); err != nil {
		t.Fatal(err)
	}
	cfgB.LAN.BindPort = b.DefaultPort(false)
	_ = b.Shutdown() // a crash: no leave

	b2 := start(t, cfgB)
	eventually(t, 10*time.Second, wantStatus(t.Context(), newServer(t, b2), false, "a", membershipv1.MemberStatus_MEMBER_STATUS_ALIVE))
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*membership.Config)
		msg  string
	}{
		{"ok", func(*membership.Config) {}, ""},
		{"no node name", func(c *membership.Config) { c.NodeName = "" }, "NodeName"},
		{"bad node id", func(c *membership.Config) { c.NodeID = "x" }, "NodeID"},
		{"bad datacenter", func(c *membership.Config) { c.Datacenter = "dc 1" }, "Datacenter"},
		{"bad bind", func(c *membership.Config) { c.LAN.BindAddr = "localhost" }, "LAN.BindAddr"},
		{"bad port", func(c *membership.Config) { c.WAN.BindPort = 70000 }, "WAN.BindPort"},
		{"bad server port", func(c *membership.Config) { c.ServerPort = 0 }, "ServerPort"},
		{"no reconnect timeout", func(c *membership.Config) { c.ReconnectTimeout = 0 }, "ReconnectTimeout"},
		{"no flood interval", func(c *membership.Config) { c.FloodInterval = 0 }, "FloodInterval"},
		{"no listen address", func(c *membership.Config) { c.ListenAddress = "" }, "ListenAddress"},
		{"wan join on a client", func(c *membership.Config) { c.Server = false; c.RetryJoinWAN = []string{"x"} }, "server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, "a", "dc1", true)
			tc.mod(&c)
			err := c.Validate()
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want an error naming %q", err, tc.msg)
			}
		})
	}
}

// runAgent runs cfg in the background and returns a client of its gRPC
// API, a channel closed when Run has returned (runErr then holds its
// error) and a function that ends Run's context.
func runAgent(t *testing.T, cfg membership.Config) (c membershipv1.MembershipServiceClient, done <-chan struct{}, runErr *error, stop context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	var err error
	go func() {
		defer close(ch)
		err = membership.Run(ctx, cfg)
	}()
	conn, dialErr := rpc.Dial(cfg.ListenAddress)
	if dialErr != nil {
		t.Fatal(dialErr)
	}
	t.Cleanup(func() {
		cancel()
		conn.Close()
		select {
		case <-ch:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return")
		}
	})
	c = membershipv1.NewMembershipServiceClient(conn)
	eventually(t, 10*time.Second, func() error {
		_, err := c.ListMembers(t.Context(), &membershipv1.ListMembersRequest{})
		return err
	})
	return c, ch, &err, cancel
}

// waitRun waits for Run to return nil.
func waitRun(t *testing.T, done <-chan struct{}, runErr *error) {
	t.Helper()
	select {
	case <-done:
		if *runErr != nil {
			t.Fatalf("Run: %v", *runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestWatchMembersOverGRPC(t *testing.T) {
	cfg := testConfig(t, "a", "dc1", true)
	c, done, runErr, cancel := runAgent(t, cfg)

	ctx, cancelWatch := context.WithCancel(t.Context())
	defer cancelWatch()
	stream, err := c.WatchMembers(ctx, &membershipv1.WatchMembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Events) != 1 || first.Events[0].Type != membershipv1.MemberEvent_TYPE_JOIN || first.Events[0].Member.Name != "a" {
		t.Fatalf("first message: %v", first)
	}
	// Events arrive on the stream's goroutine; the test reads them here.
	type got struct {
		resp *membershipv1.WatchMembersResponse
		err  error
	}
	events := make(chan got, 16)
	go func() {
		for {
			resp, err := stream.Recv()
			events <- got{resp, err}
			if err != nil {
				return
			}
		}
	}()
	waitEvent := func(typ membershipv1.MemberEvent_Type, name string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case g := <-events:
				if g.err != nil {
					t.Fatalf("waiting for %v of %s: %v", typ, name, g.err)
				}
				for _, ev := range g.resp.Events {
					if ev.Type == typ && ev.Member.Name == name {
						return
					}
				}
			case <-timeout:
				t.Fatalf("no %v event for %s", typ, name)
			}
		}
	}

	b := start(t, testConfig(t, "b", "dc1", false))
	resp, err := c.Join(t.Context(), &membershipv1.JoinRequest{Addresses: []string{addr(b, false)}})
	if err != nil || resp.Joined != 1 {
		t.Fatalf("join: %v, %v", resp, err)
	}
	waitEvent(membershipv1.MemberEvent_TYPE_JOIN, "b")
	start := time.Now()
	_ = b.Shutdown()
	waitEvent(membershipv1.MemberEvent_TYPE_FAILED, "b")
	t.Logf("failure event after %v", time.Since(start))

	// Run leaves and returns when its context ends; the watch ends too.
	cancel()
	waitRun(t, done, runErr)
	for g := range events {
		if g.err != nil {
			if g.err == io.EOF || status.Code(g.err) == codes.Unavailable {
				break
			}
			t.Fatalf("watch ended with %v", g.err)
		}
	}
}

// Leave through the API: the others see the agent left, and Run returns.
func TestLeaveOverGRPC(t *testing.T) {
	a := start(t, testConfig(t, "a", "dc1", true))
	cfg := testConfig(t, "b", "dc1", false)
	cfg.RetryJoin = []string{addr(a, false)}
	// The leave has 3 s to reach a before b shuts down (the production
	// default is 1 s): on a CI machine running the container tests beside
	// this one, the leave's gossip once took longer than 1 s, so a found b
	// gone by probing it first and marked it failed.
	cfg.LeavePropagateDelay = 3 * time.Second
	cfg.LeaveTimeout = 10 * time.Second // above twice the delay
	c, done, runErr, _ := runAgent(t, cfg)
	sa := newServer(t, a)
	eventually(t, 10*time.Second, wantStatus(t.Context(), sa, false, "b", membershipv1.MemberStatus_MEMBER_STATUS_ALIVE))
	if _, err := c.Leave(t.Context(), &membershipv1.LeaveRequest{}); err != nil {
		t.Fatalf("leave: %v", err)
	}
	eventually(t, 10*time.Second, wantStatus(t.Context(), sa, false, "b", membershipv1.MemberStatus_MEMBER_STATUS_LEFT))
	waitRun(t, done, runErr)
	if _, err := c.ListMembers(t.Context(), &membershipv1.ListMembersRequest{}); err == nil {
		t.Error("the API still answers after Leave")
	} else if !errors.Is(err, context.Canceled) && status.Code(err) != codes.Unavailable {
		t.Logf("after leave: %v", err)
	}
}

// TestFloodJoin: servers of a datacenter that find each other in the LAN
// pool join each other's WAN pool by themselves (Consul's flood joins), so
// that one WAN join between a server of dc1 and one of dc2 puts every
// server of both in the WAN pool. Clients stay out of it.
func TestFloodJoin(t *testing.T) {
	ctx := t.Context()
	newAgent := func(name, dc string, isServer bool) (*membership.Agent, *server.Server) {
		cfg := testConfig(t, name, dc, isServer)
		cfg.FloodInterval = time.Hour // the LAN events alone must do it
		a := start(t, cfg)
		return a, newServer(t, a)
	}
	a1, sa1 := newAgent("a1", "dc1", true)
	a2, sa2 := newAgent("a2", "dc1", true)
	_, sa3 := newAgent("a3", "dc1", true)
	_, sac := newAgent("ac", "dc1", false)
	b1, sb1 := newAgent("b1", "dc2", true)
	b2, sb2 := newAgent("b2", "dc2", true)
	all := []*server.Server{sa1, sa2, sa3, sb1, sb2}

	// Servers carry their WAN port in their LAN tags.
	resp, err := sa1.ListMembers(ctx, &membershipv1.ListMembersRequest{})
	if err != nil || len(resp.Members) != 1 || resp.Members[0].Tags[tags.WANJoinPort] != strconv.Itoa(a1.DefaultPort(true)) {
		t.Fatalf("a1's LAN tags: %v %v, want %s=%d", resp, err, tags.WANJoinPort, a1.DefaultPort(true))
	}

	join(t, sa2, false, addr(a1, false))
	join(t, sa3, false, addr(a2, false))
	join(t, sac, false, addr(a1, false))
	join(t, sb2, false, addr(b1, false))
	// Only LAN joins so far: each datacenter's servers already share a WAN
	// pool.
	for _, s := range []*server.Server{sa1, sa2, sa3} {
		for _, n := range []string{"a1.dc1", "a2.dc1", "a3.dc1"} {
			eventually(t, 10*time.Second, wantStatus(ctx, s, true, n, membershipv1.MemberStatus_MEMBER_STATUS_ALIVE))
		}
	}

	// One WAN join between a3 and b2.
	join(t, sa3, true, addr(b2, true))
	took := eventually(t, 15*time.Second, func() error {
		for _, s := range all {
			resp, err := s.ListMembers(ctx, &membershipv1.ListMembersRequest{Wan: true})
			if err != nil {
				return err
			}
			var alive []string
			for _, m := range resp.Members {
				if m.Status == membershipv1.MemberStatus_MEMBER_STATUS_ALIVE {
					alive = append(alive, m.Name)
				}
			}
			if got := strings.Join(alive, ","); got != "a1.dc1,a2.dc1,a3.dc1,b1.dc2,b2.dc2" {
				return fmt.Errorf("alive WAN members: %s", got)
			}
		}
		return nil
	})
	t.Logf("every server of both datacenters in the WAN pool %v after one WAN join", took)
	if st := statusOf(ctx, sa1, true, "ac.dc1"); st != membershipv1.MemberStatus_MEMBER_STATUS_NONE_UNSPECIFIED {
		t.Errorf("the client is in the WAN pool: %v", st)
	}
}

func TestWANJoinAddrTag(t *testing.T) {
	for _, tc := range []struct {
		name, lanAdv, wanAdv string
		want                 string // "" for no tag
	}{
		{"same address", "", "", ""},
		{"advertise-wan equal to advertise", "127.0.0.1", "127.0.0.1", ""},
		{"advertise-wan of its own", "127.0.0.1", "127.0.0.9", "127.0.0.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "a", "dc1", true)
			cfg.LAN.AdvertiseAddr, cfg.WAN.AdvertiseAddr = tc.lanAdv, tc.wanAdv
			a := start(t, cfg)
			got, ok := a.LAN().LocalMember().Tags[tags.WANJoinAddr]
			if tc.want == "" && ok || got != tc.want {
				t.Fatalf("%s tag: %q (present %v), want %q", tags.WANJoinAddr, got, ok, tc.want)
			}
			if a.LAN().LocalMember().Tags[tags.WANJoinPort] != strconv.Itoa(a.DefaultPort(true)) {
				t.Fatalf("tags %v, want %s=%d", a.LAN().LocalMember().Tags, tags.WANJoinPort, a.DefaultPort(true))
			}
		})
	}
}

// The coordinates of real pools: after a few probes each agent knows every
// member's coordinate, its own included, and names itself.
func TestListCoordinatesOfRealPools(t *testing.T) {
	ctx := t.Context()
	a := start(t, testConfig(t, "a", "dc1", true))
	b := start(t, testConfig(t, "b", "dc1", false))
	c := start(t, testConfig(t, "c", "dc1", false))
	sa := newServer(t, a)
	join(t, sa, false, addr(b, false), addr(c, false))
	for _, s := range []*server.Server{sa, newServer(t, b), newServer(t, c)} {
		eventually(t, 10*time.Second, func() error {
			resp, err := s.ListCoordinates(ctx, &membershipv1.ListCoordinatesRequest{})
			if err != nil {
				return err
			}
			var names []string
			for _, nc := range resp.Coordinates {
				if len(nc.Coord.GetVec()) != 8 {
					return fmt.Errorf("%s's coordinate: %v", nc.Node, nc.Coord)
				}
				names = append(names, nc.Node)
			}
			if strings.Join(names, ",") != "a,b,c" || resp.LocalNode == "" {
				return fmt.Errorf("coordinates of %v from %q", names, resp.LocalNode)
			}
			return nil
		})
	}
	wan, err := sa.ListCoordinates(ctx, &membershipv1.ListCoordinatesRequest{Wan: true})
	if err != nil || len(wan.Coordinates) != 1 || wan.LocalNode != "a.dc1" {
		t.Fatalf("a's WAN coordinates: %v %v", wan, err)
	}
}
