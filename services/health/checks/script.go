package checks

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// scriptProbe runs a command, Nagios-plugin style: exit 0 is passing, 1 is
// warning, anything else critical. Its output is the command's stdout and
// stderr together; beyond OutputMaxSize only the end is kept, after
// Consul's "Captured N of M bytes\n...\n" (the end of a script's output is
// where its verdict is).
type scriptProbe struct {
	args    []string
	timeout time.Duration
	max     int
}

// waitDelay bounds how long a probe waits for the output pipes after the
// command was killed (a grandchild outside its process group may hold
// them).
const waitDelay = time.Second

func (p *scriptProbe) Check(ctx context.Context) (string, string) {
	tctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, p.args[0], p.args[1:]...)
	out := &tailBuffer{max: p.max}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = waitDelay
	killProcessGroup(cmd)
	err := cmd.Run()
	output := out.String()
	if err == nil {
		return Passing, output
	}
	if errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		msg := fmt.Sprintf("Timed out (%s) running check", p.timeout)
		if output != "" {
			msg += "\n\n" + output
		}
		return Critical, msg
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if exit.ExitCode() == 1 {
			return Warning, output
		}
		return Critical, output
	}
	return Critical, err.Error()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	total int64
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += int64(len(p))
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = b.buf[:copy(b.buf, b.buf[over:])]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total > int64(len(b.buf)) {
		kept := dropPartialFirst(b.buf)
		return validUTF8(fmt.Sprintf("Captured %d of %d bytes\n...\n%s", len(kept), b.total, kept))
	}
	return validUTF8(string(b.buf))
}
