// Package supervisor runs an agent's services as child processes: it starts
// them in order, prefixes each line they log with the child's name, restarts
// a child that dies with exponential backoff, and on shutdown stops them in
// reverse order, each with SIGTERM and, past a deadline, SIGKILL.
package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Child is one supervised process.
type Child struct {
	// Name prefixes the child's log lines and names it in the supervisor's.
	Name string
	// Path and Args are the program and its arguments (without argv[0]).
	Path string
	Args []string
	// StopAllOnCleanExit ends the supervisor when this child exits with
	// status 0 by itself (an agent's graceful leave), instead of
	// restarting it.
	StopAllOnCleanExit bool
}

// Config is the supervisor's configuration.
type Config struct {
	// Children are started in this order and stopped in the reverse.
	Children []Child
	// MinBackoff and MaxBackoff bound the wait before a restart; it doubles
	// with each crash and resets once a child has run for ResetAfter.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	ResetAfter time.Duration
	// StopTimeout is how long a child has to exit after SIGTERM.
	StopTimeout time.Duration
	// Forward maps signals the supervisor receives to the children it
	// passes them on to (SIGHUP to the service that reloads configuration).
	Forward map[os.Signal][]string
	// Output receives the children's prefixed output.
	Output io.Writer
	Logger *slog.Logger
}

// DefaultConfig returns a configuration with sane timings and no children.
func DefaultConfig() Config {
	return Config{
		MinBackoff:  100 * time.Millisecond,
		MaxBackoff:  10 * time.Second,
		ResetAfter:  30 * time.Second,
		StopTimeout: 10 * time.Second,
		Output:      os.Stderr,
		Logger:      slog.Default(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if len(c.Children) == 0 {
		return errors.New("supervisor: no children")
	}
	seen := map[string]bool{}
	for _, ch := range c.Children {
		if ch.Name == "" || ch.Path == "" {
			return errors.New("supervisor: a child needs a name and a path")
		}
		if seen[ch.Name] {
			return fmt.Errorf("supervisor: two children named %q", ch.Name)
		}
		seen[ch.Name] = true
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		return fmt.Errorf("supervisor: backoff must satisfy 0 < MinBackoff (%v) <= MaxBackoff (%v)", c.MinBackoff, c.MaxBackoff)
	}
	if c.StopTimeout <= 0 {
		return errors.New("supervisor: StopTimeout must be positive")
	}
	return nil
}

// Run starts the children and keeps them running until ctx ends, then stops
// them in reverse order and returns.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	out := &lockedWriter{w: cfg.Output}
	procs := make([]*proc, len(cfg.Children))
	byName := map[string]*proc{}
	exited := make(chan string, len(cfg.Children))
	for i, ch := range cfg.Children {
		procs[i] = &proc{child: ch, cfg: cfg, out: out, stop: make(chan struct{}), done: make(chan struct{}), exited: exited}
		byName[ch.Name] = procs[i]
		go procs[i].supervise()
	}
	sigs := make(chan os.Signal, 4)
	for sig := range cfg.Forward {
		signal.Notify(sigs, sig)
	}
	defer signal.Stop(sigs)
	for wait := true; wait; {
		select {
		case <-ctx.Done():
			wait = false
		case name := <-exited:
			cfg.Logger.Info("child exited cleanly; stopping the others", "child", name)
			wait = false
		case sig := <-sigs:
			for _, name := range cfg.Forward[sig] {
				if p := byName[name]; p != nil {
					p.signal(sig)
				}
			}
		}
	}
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].shutdown()
	}
	return nil
}

type proc struct {
	child Child
	cfg   Config
	out   *lockedWriter

	mu  sync.Mutex
	cmd *exec.Cmd // the running process, nil between runs

	stopOnce sync.Once
	stop     chan struct{} // closed to stop supervising
	done     chan struct{} // closed when supervise returns
	exited   chan<- string // told of a clean exit of a StopAllOnCleanExit child
}

func (p *proc) supervise() {
	defer close(p.done)
	log := p.cfg.Logger.With("child", p.child.Name)
	backoff := p.cfg.MinBackoff
	for {
		started := time.Now()
		err := p.runOnce()
		select {
		case <-p.stop:
			return
		default:
		}
		if err == nil && p.child.StopAllOnCleanExit {
			p.exited <- p.child.Name
			return
		}
		if time.Since(started) >= p.cfg.ResetAfter {
			backoff = p.cfg.MinBackoff
		}
		log.Warn("child exited; restarting", "err", err, "backoff", backoff)
		select {
		case <-p.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.cfg.MaxBackoff)
	}
}

// runOnce starts the child and waits for it to exit.
func (p *proc) runOnce() error {
	cmd := exec.Command(p.child.Path, p.child.Args...)
	cmd.Stdin = nil
	setProcAttr(cmd)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		p.copyLines(pr)
	}()
	p.mu.Lock()
	select {
	case <-p.stop:
		p.mu.Unlock()
		pw.Close()
		<-copied
		return nil
	default:
	}
	err := cmd.Start()
	if err == nil {
		p.cmd = cmd
	}
	p.mu.Unlock()
	if err != nil {
		pw.Close()
		<-copied
		return err
	}
	err = cmd.Wait()
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	pw.Close()
	<-copied
	return err
}

func (p *proc) copyLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := "[" + p.child.Name + "] "
	for sc.Scan() {
		p.out.writeLine(prefix, sc.Bytes())
	}
	// Drain whatever a too-long line left, so the child never blocks.
	_, _ = io.Copy(io.Discard, r)
}

// signal sends sig to the child's current run, if any.
func (p *proc) signal(sig os.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// shutdown stops supervising and stops the child: SIGTERM, then SIGKILL
// after StopTimeout.
func (p *proc) shutdown() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(p.cfg.StopTimeout):
			p.cfg.Logger.Warn("child did not stop in time; killing it", "child", p.child.Name)
			_ = cmd.Process.Kill()
		}
	}
	<-p.done
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) writeLine(prefix string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(append(append(buf, prefix...), line...), '\n')
	_, _ = l.w.Write(buf)
}
