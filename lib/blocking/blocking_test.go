package blocking

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestConfigWait(t *testing.T) {
	cfg := Config{DefaultWait: 5 * time.Minute, MaxWait: 10 * time.Minute, JitterFraction: 16}
	tests := []struct {
		name     string
		wait     time.Duration
		min, max time.Duration
	}{
		{"zero takes the default", 0, 5 * time.Minute, 5*time.Minute + 5*time.Minute/16},
		{"negative takes the default", -time.Second, 5 * time.Minute, 5*time.Minute + 5*time.Minute/16},
		{"in range", time.Minute, time.Minute, time.Minute + time.Minute/16},
		{"capped", time.Hour, 10 * time.Minute, 10*time.Minute + 10*time.Minute/16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 100 {
				if got := cfg.Wait(tt.wait); got < tt.min || got >= tt.max {
					t.Fatalf("Wait(%v) = %v, want in [%v, %v)", tt.wait, got, tt.min, tt.max)
				}
			}
		})
	}
	noJitter := Config{DefaultWait: time.Second, MaxWait: time.Minute}
	if got := noJitter.Wait(2 * time.Second); got != 2*time.Second {
		t.Fatalf("without jitter Wait(2s) = %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg Config
		ok  bool
	}{
		{DefaultConfig(), true},
		{Config{DefaultWait: 0, MaxWait: time.Second}, false},
		{Config{DefaultWait: time.Minute, MaxWait: time.Second}, false},
		{Config{DefaultWait: time.Second, MaxWait: time.Second, JitterFraction: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
		}
	}
}

// store is a one-key store whose writes notify a Hub, like the FSM.
type store struct {
	hub   *Hub
	index chan uint64 // the current index, as a one-slot mailbox
}

func newStore(index uint64) *store {
	s := &store{hub: NewHub(), index: make(chan uint64, 1)}
	s.index <- index
	return s
}

func (s *store) write(key string) {
	i := <-s.index
	s.index <- i + 1
	s.hub.Notify(key)
}

func (s *store) query(key string) QueryFunc {
	return func(context.Context, bool) (<-chan struct{}, uint64, error) {
		ch := s.hub.Watch(key)
		i := <-s.index
		s.index <- i
		return ch, i, nil
	}
}

func TestRun(t *testing.T) {
	cfg := Config{DefaultWait: time.Minute, MaxWait: time.Minute}

	t.Run("no index returns at once", func(t *testing.T) {
		s := newStore(7)
		idx, err := Run(context.Background(), cfg, 0, 0, s.query("k"))
		if err != nil || idx != 7 {
			t.Fatalf("Run = %d, %v", idx, err)
		}
	})
	t.Run("an index already passed returns at once", func(t *testing.T) {
		s := newStore(7)
		idx, err := Run(context.Background(), cfg, 6, 0, s.query("k"))
		if err != nil || idx != 7 {
			t.Fatalf("Run = %d, %v", idx, err)
		}
	})
	t.Run("a write to the key wakes it", func(t *testing.T) {
		s := newStore(7)
		done := make(chan uint64)
		go func() {
			idx, _ := Run(context.Background(), cfg, 7, 0, s.query("k/"))
			done <- idx
		}()
		// Writes until the query has seen one; a write before the query
		// registered is fine too, since the index is above 7 either way.
		s.write("k/a")
		if idx := <-done; idx <= 7 {
			t.Fatalf("woken with index %d, want > 7", idx)
		}
	})
	t.Run("the wait ends it with the same index", func(t *testing.T) {
		s := newStore(7)
		start := time.Now()
		idx, err := Run(context.Background(), cfg, 7, 50*time.Millisecond, s.query("k"))
		if err != nil || idx != 7 || time.Since(start) < 50*time.Millisecond {
			t.Fatalf("Run = %d, %v after %v", idx, err, time.Since(start))
		}
	})
	t.Run("cancelling the context ends it", func(t *testing.T) {
		s := newStore(7)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Run(ctx, cfg, 7, 0, s.query("k")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	})
}

func TestHub(t *testing.T) {
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	tests := []struct {
		name   string
		watch  string
		notify func(h *Hub)
		woken  bool
	}{
		{"key itself", "a/b", func(h *Hub) { h.Notify("a/b") }, true},
		{"key under a watched prefix", "a/", func(h *Hub) { h.Notify("a/b") }, true},
		{"unrelated key", "a/", func(h *Hub) { h.Notify("b/a") }, false},
		{"key above a watched key", "a/b", func(h *Hub) { h.Notify("a/") }, false},
		{"tree above", "a/b/c", func(h *Hub) { h.NotifyPrefix("a/") }, true},
		{"tree below", "a/", func(h *Hub) { h.NotifyPrefix("a/b/") }, true},
		{"tree beside", "a/", func(h *Hub) { h.NotifyPrefix("b/") }, false},
		{"all", "z", func(h *Hub) { h.NotifyAll() }, true},
		{"empty prefix watches everything", "", func(h *Hub) { h.Notify("a") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub()
			ch := h.Watch(tt.watch)
			tt.notify(h)
			if got := closed(ch); got != tt.woken {
				t.Fatalf("woken = %v, want %v", got, tt.woken)
			}
		})
	}
}

// TestHubManyWatchers covers Notify's lookup of each prefix of the key,
// used when more prefixes are watched than the key is long.
func TestHubManyWatchers(t *testing.T) {
	h := NewHub()
	var others []<-chan struct{}
	for i := range 100 {
		others = append(others, h.Watch(fmt.Sprintf("x/%03d", i)))
	}
	root, dir, key, sibling := h.Watch(""), h.Watch("a/"), h.Watch("a/b"), h.Watch("a/c")
	h.Notify("a/b")
	for name, ch := range map[string]<-chan struct{}{"root": root, "dir": dir, "key": key} {
		select {
		case <-ch:
		default:
			t.Errorf("%s watcher not woken", name)
		}
	}
	select {
	case <-sibling:
		t.Error("sibling watcher woken")
	default:
	}
	for _, ch := range others {
		select {
		case <-ch:
			t.Fatal("unrelated watcher woken")
		default:
		}
	}
}
