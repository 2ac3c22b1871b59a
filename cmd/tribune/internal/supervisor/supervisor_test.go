package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the supervised child: with SUPERVISOR_CHILD
// set it plays the role named there instead of running tests.
func TestMain(m *testing.M) {
	switch os.Getenv("SUPERVISOR_CHILD") {
	case "":
		os.Exit(m.Run())
	case "crash":
		fmt.Println("started")
		os.Exit(3)
	case "serve":
		name := os.Args[len(os.Args)-1]
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGHUP)
		fmt.Println("ready", name)
		for s := range sig {
			if s == syscall.SIGHUP {
				fmt.Println("hup", name)
				continue
			}
			fmt.Println("stopping", name)
			os.Exit(0)
		}
	case "group":
		parent, _ := syscall.Getpgid(os.Getppid())
		fmt.Println("own group:", syscall.Getpgrp() != parent)
		select {}
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		select {}
	}
}

type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func eventually(t *testing.T, cond func() bool, what string, out *buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s; output:\n%s", what, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func config(t *testing.T, out *buffer, role string, names ...string) Config {
	t.Setenv("SUPERVISOR_CHILD", role)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.MinBackoff = 10 * time.Millisecond
	cfg.MaxBackoff = 40 * time.Millisecond
	cfg.StopTimeout = 2 * time.Second
	cfg.Output = out
	for _, n := range names {
		cfg.Children = append(cfg.Children, Child{Name: n, Path: self, Args: []string{"-test.run=^$", n}})
	}
	return cfg
}

func TestRestartsACrashedChildWithPrefixedOutput(t *testing.T) {
	out := &buffer{}
	cfg := config(t, out, "crash", "kv")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	eventually(t, func() bool { return strings.Count(out.String(), "[kv] started\n") >= 3 }, "three runs of a crashing child", out)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStopsChildrenInReverseOrder(t *testing.T) {
	out := &buffer{}
	cfg := config(t, out, "serve", "first", "second", "third")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	eventually(t, func() bool { return strings.Count(out.String(), "ready") == 3 }, "all children ready", out)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, line := range strings.Split(out.String(), "\n") {
		if _, name, ok := strings.Cut(line, "stopping "); ok {
			order = append(order, name)
		}
	}
	if got := strings.Join(order, ","); got != "third,second,first" {
		t.Fatalf("stop order %q, want third,second,first; output:\n%s", got, out.String())
	}
	if strings.Contains(out.String(), "restarting") {
		t.Fatal("a child stopped on shutdown was restarted")
	}
}

// TestChildrenHaveTheirOwnProcessGroup: a terminal's Ctrl-C (SIGINT to the
// foreground process group) reaches the supervisor alone, which stops the
// children in order, rather than every child at once.
func TestChildrenHaveTheirOwnProcessGroup(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process groups are set on Linux only")
	}
	out := &buffer{}
	cfg := config(t, out, "group", "kv")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	eventually(t, func() bool { return strings.Contains(out.String(), "own group:") }, "the child's report", out)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[kv] own group: true") {
		t.Fatalf("the child shares the supervisor's process group:\n%s", out.String())
	}
}

func TestKillsAChildThatIgnoresSIGTERM(t *testing.T) {
	out := &buffer{}
	cfg := config(t, out, "stubborn", "stubborn")
	cfg.StopTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	eventually(t, func() bool { return strings.Contains(out.String(), "ready") }, "child ready", out)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return: the stubborn child was not killed")
	}
}

func TestValidate(t *testing.T) {
	good := DefaultConfig()
	good.Children = []Child{{Name: "a", Path: "/bin/true"}}
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"good", func(*Config) {}, true},
		{"no children", func(c *Config) { c.Children = nil }, false},
		{"duplicate names", func(c *Config) { c.Children = append(c.Children, c.Children[0]) }, false},
		{"no path", func(c *Config) { c.Children = []Child{{Name: "a"}} }, false},
		{"backoff inverted", func(c *Config) { c.MaxBackoff = c.MinBackoff / 2 }, false},
		{"no stop timeout", func(c *Config) { c.StopTimeout = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			cfg.Children = append([]Child(nil), good.Children...)
			tt.mutate(&cfg)
			if err := cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestForwardsSignalsToNamedChildren(t *testing.T) {
	out := &buffer{}
	cfg := config(t, out, "serve", "first", "second")
	cfg.Forward = map[os.Signal][]string{syscall.SIGHUP: {"second"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	eventually(t, func() bool { return strings.Count(out.String(), "ready") == 2 }, "children ready", out)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return strings.Contains(out.String(), "[second] hup second") }, "SIGHUP forwarded to second", out)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "hup first") {
		t.Fatalf("SIGHUP reached a child it was not forwarded to:\n%s", out.String())
	}
}
