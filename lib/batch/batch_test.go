package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// gate is a SendFunc that records each batch and holds it until released.
type gate struct {
	mu      sync.Mutex
	batches [][]int
	arrived chan struct{}
	release chan struct{}
}

func newGate() *gate {
	return &gate{arrived: make(chan struct{}, 100), release: make(chan struct{}, 100)}
}

func (g *gate) send(ctx context.Context, reqs []int) ([]Result[string], error) {
	g.mu.Lock()
	g.batches = append(g.batches, slices.Clone(reqs))
	g.mu.Unlock()
	g.arrived <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make([]Result[string], len(reqs))
	for i, r := range reqs {
		if r < 0 {
			out[i].Err = fmt.Errorf("negative %d", r)
			continue
		}
		out[i].Resp = fmt.Sprint("r", r)
	}
	return out, nil
}

func (g *gate) sent() [][]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.batches)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (b *Batcher[Req, Resp]) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

type outcome struct {
	resp string
	err  error
}

// doAll starts Do for each request and returns their outcomes by request.
func doAll(ctx context.Context, b *Batcher[int, string], reqs ...int) <-chan map[int]outcome {
	out := make(chan map[int]outcome, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	res := map[int]outcome{}
	for _, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := b.Do(ctx, r)
			mu.Lock()
			res[r] = outcome{resp, err}
			mu.Unlock()
		}()
	}
	go func() { wg.Wait(); out <- res }()
	return out
}

func TestAloneIsSentAtOnce(t *testing.T) {
	g := newGate()
	b, err := New(DefaultConfig(), g.send, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	g.release <- struct{}{}
	resp, err := b.Do(context.Background(), 7)
	if err != nil || resp != "r7" {
		t.Fatalf("Do = %q, %v; want r7", resp, err)
	}
	if got := g.sent(); !slices.EqualFunc(got, [][]int{{7}}, slices.Equal) {
		t.Fatalf("batches %v, want [[7]]", got)
	}
}

func TestQueuedRequestsGoTogether(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		size    func(int) int
		queued  []int
		batches []int // sizes of the batches after the first
	}{
		{"one batch", Config{MaxInFlight: 1, MaxItems: 100, MaxBytes: 100}, nil, []int{1, 2, 3, 4, 5}, []int{5}},
		{"max items", Config{MaxInFlight: 1, MaxItems: 2, MaxBytes: 100}, nil, []int{1, 2, 3, 4, 5}, []int{2, 2, 1}},
		{"max bytes", Config{MaxInFlight: 1, MaxItems: 100, MaxBytes: 10}, func(int) int { return 4 }, []int{1, 2, 3, 4, 5}, []int{2, 2, 1}},
		{"oversized alone", Config{MaxInFlight: 1, MaxItems: 100, MaxBytes: 10}, func(r int) int { return r * 10 }, []int{5}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			b, err := New(tt.cfg, g.send, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			first := doAll(context.Background(), b, 0)
			<-g.arrived // the first batch is out and holds the only slot
			rest := doAll(context.Background(), b, tt.queued...)
			waitFor(t, "the requests to queue", func() bool { return b.queued() == len(tt.queued) })
			for range 1 + len(tt.batches) {
				g.release <- struct{}{}
			}
			if got := <-first; got[0].resp != "r0" {
				t.Fatalf("first: %+v", got)
			}
			got := <-rest
			for _, r := range tt.queued {
				if got[r].err != nil || got[r].resp != fmt.Sprint("r", r) {
					t.Errorf("request %d: %+v", r, got[r])
				}
			}
			var sizes []int
			for _, batch := range g.sent()[1:] {
				sizes = append(sizes, len(batch))
			}
			if !slices.Equal(sizes, tt.batches) {
				t.Fatalf("batch sizes after the first: %v, want %v", sizes, tt.batches)
			}
		})
	}
}

func TestInFlightBound(t *testing.T) {
	g := newGate()
	b, err := New(Config{MaxInFlight: 3, MaxItems: 100, MaxBytes: 100}, g.send, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	done := doAll(context.Background(), b, 1, 2, 3, 4, 5, 6)
	waitFor(t, "three batches and three queued", func() bool {
		return len(g.sent()) == 3 && b.queued() == 3
	})
	for range 4 {
		g.release <- struct{}{}
	}
	res := <-done
	for r := 1; r <= 6; r++ {
		if res[r].err != nil {
			t.Fatalf("request %d: %v", r, res[r].err)
		}
	}
	if n := len(g.sent()); n != 4 {
		t.Fatalf("%d batches, want 4 (3 alone, then the 3 queued together)", n)
	}
}

func TestErrors(t *testing.T) {
	t.Run("per request", func(t *testing.T) {
		g := newGate()
		b, _ := New(Config{MaxInFlight: 1, MaxItems: 10, MaxBytes: 10}, g.send, nil)
		defer b.Close()
		g.release <- struct{}{}
		if _, err := b.Do(context.Background(), -1); err == nil || err.Error() != "negative -1" {
			t.Fatalf("Do(-1) error %v, want negative -1", err)
		}
	})
	whole := errors.New("no leader")
	for name, send := range map[string]SendFunc[int, string]{
		"whole batch": func(context.Context, []int) ([]Result[string], error) { return nil, whole },
		"short":       func(context.Context, []int) ([]Result[string], error) { return nil, nil },
	} {
		t.Run(name, func(t *testing.T) {
			b, _ := New(DefaultConfig(), send, nil)
			defer b.Close()
			if _, err := b.Do(context.Background(), 1); err == nil {
				t.Fatal("Do succeeded")
			}
		})
	}
}

func TestCallerGivesUp(t *testing.T) {
	g := newGate()
	b, _ := New(Config{MaxInFlight: 1, MaxItems: 10, MaxBytes: 10}, g.send, nil)
	defer b.Close()
	first := doAll(context.Background(), b, 0)
	<-g.arrived
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := doAll(ctx, b, 1)
	kept := doAll(context.Background(), b, 2)
	waitFor(t, "two queued", func() bool { return b.queued() == 2 })
	cancel()
	if res := <-gaveUp; !errors.Is(res[1].err, context.Canceled) {
		t.Fatalf("cancelled request: %+v, want context.Canceled", res[1])
	}
	g.release <- struct{}{}
	g.release <- struct{}{}
	<-first
	if res := <-kept; res[2].err != nil {
		t.Fatalf("kept request: %v", res[2].err)
	}
	if got := g.sent(); !slices.EqualFunc(got, [][]int{{0}, {2}}, slices.Equal) {
		t.Fatalf("batches %v: the request given up on was sent", got)
	}
}

func TestClose(t *testing.T) {
	g := newGate()
	b, _ := New(Config{MaxInFlight: 1, MaxItems: 10, MaxBytes: 10}, g.send, nil)
	first := doAll(context.Background(), b, 0)
	<-g.arrived
	queued := doAll(context.Background(), b, 1)
	waitFor(t, "one queued", func() bool { return b.queued() == 1 })
	b.Close()
	b.Close()
	if res := <-queued; !errors.Is(res[1].err, ErrClosed) {
		t.Fatalf("queued request: %+v, want ErrClosed", res[1])
	}
	if res := <-first; !errors.Is(res[0].err, context.Canceled) {
		t.Fatalf("request in flight: %+v, want its send cancelled", res[0])
	}
	if _, err := b.Do(context.Background(), 2); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v, want ErrClosed", err)
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {MaxInFlight: 1, MaxItems: 1}, {MaxInFlight: -1, MaxItems: 1, MaxBytes: 1}} {
		if _, err := New(cfg, (&gate{}).send, nil); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New[int, string](DefaultConfig(), nil, nil); err == nil {
		t.Error("New without a SendFunc accepted")
	}
}

func TestSplit(t *testing.T) {
	var refused []int
	cmds, at := Split([]int{3, -1, 4, -5}, func(op int) (string, error) {
		if op < 0 {
			return "", errors.New("negative")
		}
		return fmt.Sprint("c", op), nil
	}, func(i int, err error) { refused = append(refused, i) })
	if !slices.Equal(cmds, []string{"c3", "c4"}) || !slices.Equal(at, []int{0, 2}) || !slices.Equal(refused, []int{1, 3}) {
		t.Fatalf("Split = %v at %v, refused %v; want [c3 c4] at [0 2], refused [1 3]", cmds, at, refused)
	}
}
