package demoservice

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// fakeAgent fails the first registrations, then records them.
type fakeAgent struct {
	mu           sync.Mutex
	failures     int
	registered   *api.AgentServiceRegistration
	deregistered string
}

func (a *fakeAgent) ServiceRegister(reg *api.AgentServiceRegistration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failures > 0 {
		a.failures--
		return errors.New("connection refused")
	}
	a.registered = reg
	return nil
}

func (a *fakeAgent) ServiceDeregisterOpts(id string, _ *api.QueryOptions) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deregistered = id
	return nil
}

func (a *fakeAgent) reg() *api.AgentServiceRegistration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.registered
}

func TestRunRegistersServesAndDeregisters(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Name, cfg.Listen, cfg.RegisterRetry = "web", "127.0.0.1:0", 10*time.Millisecond
	agent := &fakeAgent{failures: 2}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, agent, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

	deadline := time.Now().Add(10 * time.Second)
	for agent.reg() == nil {
		if time.Now().After(deadline) {
			t.Fatal("not registered after the agent came up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	reg := agent.reg()
	if reg.Name != "web" || reg.ID != "web" || reg.Port == 0 || reg.Check == nil || reg.Check.Interval != "5s" {
		t.Fatalf("registration %+v", reg)
	}
	resp, err := http.Get(reg.Check.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", reg.Check.HTTP, resp.Status)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if agent.deregistered != "web" {
		t.Fatalf("deregistered %q, want web", agent.deregistered)
	}
}

func TestValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"no name":       func(c *Config) { c.Name = "" },
		"relative path": func(c *Config) { c.HealthPath = "health" },
		"bad listen":    func(c *Config) { c.Listen = "8080" },
		"zero interval": func(c *Config) { c.CheckInterval = 0 },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		if cfg.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
