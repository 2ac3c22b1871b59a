package membership

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// SmallClusterGossip returns memberlist's LAN timings tuned for a small
// datacenter (up to a few dozen agents on one network): a failed agent is
// noticed in about 2-4 s instead of 5-10 s, for a little more traffic.
func SmallClusterGossip() *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	c.ProbeInterval = 500 * time.Millisecond // Probe each peer twice as often.
	c.ProbeTimeout = 250 * time.Millisecond  // Still far above a LAN's RTT.
	c.SuspicionMult = 3                      // Suspect for 3 * log(N+1) * ProbeInterval.
	c.GossipInterval = 100 * time.Millisecond
	c.PushPullInterval = 15 * time.Second // Full state syncs are cheap in a small pool.
	return c
}

// LoopbackGossip returns timings for agents on one machine (tests, -dev
// clusters): failures are detected within about a second. Too eager for
// a real network.
func LoopbackGossip() *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond // Generous for -race on 2 cores.
	c.SuspicionMult = 2
	c.RetransmitMult = 3 // Messages are cheap on loopback; losing a leave is not.
	c.SuspicionMaxTimeoutMult = 2
	c.GossipInterval = 20 * time.Millisecond
	c.GossipToTheDeadTime = 2 * time.Second
	c.PushPullInterval = 2 * time.Second
	c.TCPTimeout = 2 * time.Second
	c.DeadNodeReclaimTime = time.Second
	return c
}

// ParseKey decodes an -encrypt key: base64 (standard encoding, as
// `consul keygen` writes it) of 16, 24 or 32 bytes (AES-128, -192, -256;
// keygen makes 32).
func ParseKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("encrypt: the key is not valid base64: %w", err)
	}
	if err := memberlist.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("encrypt: the key decodes to %d bytes; it must be 32 (or 16 or 24): generate one with `consul keygen` or `openssl rand -base64 32`", len(key))
	}
	return key, nil
}

// logWriter turns the lines serf and memberlist log ("[WARN] serf: ...")
// into slog records at the matching level.
type logWriter struct {
	log  *slog.Logger
	pool string
}

var _ io.Writer = logWriter{}

var logPrefixes = []struct {
	prefix string
	level  slog.Level
}{
	{"[TRACE]", slog.LevelDebug - 4}, {"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError},
}

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		msg := string(line)
		level := slog.LevelInfo
		for _, p := range logPrefixes {
			if rest, ok := strings.CutPrefix(msg, p.prefix); ok {
				msg, level = strings.TrimSpace(rest), p.level
				break
			}
		}
		w.log.Log(context.Background(), level, msg, "pool", w.pool)
	}
	return len(p), nil
}

func newStdLogger(l *slog.Logger, pool string) *log.Logger {
	return log.New(logWriter{log: l, pool: pool}, "", 0)
}
