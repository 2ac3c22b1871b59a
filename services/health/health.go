package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tribune/tribune/lib/agentdef"
	"github.com/tribune/tribune/lib/rpc"
	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/health/catalogsync"
	"github.com/tribune/tribune/services/health/checks"
	"github.com/tribune/tribune/services/health/local"
	"github.com/tribune/tribune/services/health/server"
)

// Config is the health service's configuration.
type Config struct {
	// Self describes the agent (node name and ID, datacenter, address,
	// server or client, version).
	Self *agentv1.SelfResponse
	// DataDir is the agent's data directory; the local state persists in
	// DataDir/health.
	DataDir string
	// ListenAddress is where the gRPC API listens.
	ListenAddress string
	// RegistryAddress is the registry service's gRPC address.
	RegistryAddress string
	// ConfigFiles and ConfigDirs hold service and check definitions
	// (Consul's JSON), read at start, on Reload and on SIGHUP.
	ConfigFiles []string
	ConfigDirs  []string
	// AntiEntropyInterval is the base period of the full sync (Consul: 1m).
	AntiEntropyInterval time.Duration
	ShutdownGrace       time.Duration
	Checks              checks.Config
	Logger              *slog.Logger
}

// DefaultConfig returns Consul's defaults; Self, DataDir, ListenAddress
// and RegistryAddress must still be set.
func DefaultConfig() Config {
	return Config{
		AntiEntropyInterval: time.Minute,
		ShutdownGrace:       5 * time.Second,
		Checks:              checks.DefaultConfig(),
		Logger:              slog.Default(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Self == nil || c.Self.NodeName == "" || c.Self.Address == "":
		return errors.New("health: Self needs a node name and an address")
	case c.DataDir == "":
		return errors.New("health: DataDir is required")
	case c.ListenAddress == "":
		return errors.New("health: ListenAddress is required")
	case c.RegistryAddress == "":
		return errors.New("health: RegistryAddress is required")
	case c.AntiEntropyInterval <= 0:
		return errors.New("health: AntiEntropyInterval must be positive")
	}
	return c.Checks.Validate()
}

// Run restores the agent's state, starts its checks, serves the agent API
// and syncs the catalog until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	state := local.New(filepath.Join(cfg.DataDir, "health"))
	if err := state.Load(); err != nil {
		return fmt.Errorf("health: restore local state: %w", err)
	}

	// The runner reports under its locks; the state's SetStatus is quick.
	// Deregistering a service that stayed critical goes through the server
	// (set below), on the runner's own goroutine for that callback.
	var srv *server.Server
	runner, err := checks.NewRunner(cfg.Checks,
		func(id, status, output string) { state.SetStatus(id, status, output) },
		func(id string) {
			c := state.Check(id)
			if c == nil || c.Def.ServiceId == "" || c.Status != local.Critical {
				return
			}
			log.Info("deregistering a service whose check stayed critical", "service", c.Def.ServiceId, "check", id)
			if err := srv.RemoveService(c.Def.ServiceId); err != nil {
				log.Warn("deregister critical service", "service", c.Def.ServiceId, "err", err)
			}
		})
	if err != nil {
		return err
	}
	defer runner.Close()

	var load server.Loader
	if len(cfg.ConfigFiles) > 0 || len(cfg.ConfigDirs) > 0 {
		load = func() ([]*agentv1.ServiceDefinition, []*agentv1.CheckDefinition, error) {
			defs, err := agentdef.LoadFiles(cfg.ConfigFiles, cfg.ConfigDirs)
			if err != nil {
				return nil, nil, err
			}
			for _, f := range defs.Skipped {
				log.Warn("skipping a configuration file that is not JSON", "file", f)
			}
			return defs.Services, defs.Checks, nil
		}
	}
	srv, err = server.New(cfg.Self, state, runner, load)
	if err != nil {
		return err
	}
	// Restored checks run again; maintenance checks have nothing to probe.
	for _, c := range state.Checks() {
		if local.CheckType(c.Def) == "" {
			continue
		}
		if err := runner.Add(c.Def, c.Status); err != nil {
			log.Warn("restored check cannot run", "check", c.Def.CheckId, "err", err)
		}
	}
	if err := srv.ReloadFiles(); err != nil {
		return fmt.Errorf("health: configuration: %w", err)
	}

	regConn, err := rpc.Dial(cfg.RegistryAddress)
	if err != nil {
		return fmt.Errorf("health: dial registry at %s: %w", cfg.RegistryAddress, err)
	}
	defer regConn.Close()
	sc := catalogsync.DefaultConfig()
	sc.Node = &registryv1.Node{
		Id: cfg.Self.NodeId, Node: cfg.Self.NodeName, Address: cfg.Self.Address,
		Datacenter: cfg.Self.Datacenter, Meta: cfg.Self.NodeMeta,
	}
	sc.Interval = cfg.AntiEntropyInterval
	sc.Logger = log
	syncer, err := catalogsync.New(sc, state, registryv1.NewRegistryServiceClient(regConn))
	if err != nil {
		return err
	}
	go syncer.Run(ctx)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := srv.ReloadFiles(); err != nil {
					log.Error("reload failed; the running configuration is kept", "err", err)
				} else {
					log.Info("configuration reloaded")
				}
			}
		}
	}()

	l, err := rpc.Listen(cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("health: listen on %s: %w", cfg.ListenAddress, err)
	}
	g := rpc.NewServer()
	srv.AddTo(g)
	log.Info("health service started", "grpc", cfg.ListenAddress, "services", len(state.Services()), "checks", len(state.Checks()))
	return rpc.Serve(ctx, g, l, cfg.ShutdownGrace)
}
