// Package batch coalesces concurrent requests into batches, so that a busy
// path pays for one round trip (one RPC, one Raft entry, one fsync) per
// batch instead of one per request.
//
// Batching is natural, not timed: a request that finds a free slot is sent
// at once, alone, so an idle path adds no latency; requests that arrive
// while MaxInFlight batches are out wait for the next free slot and go
// together. The busier the path, the larger the batches.
package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Config bounds the batches.
type Config struct {
	// MaxInFlight is how many batches may be out at once. More keeps the
	// receiver's pipeline full; fewer makes larger batches.
	MaxInFlight int
	// MaxItems caps the requests in one batch.
	MaxItems int
	// MaxBytes caps the summed Size of the requests in one batch. A
	// request larger than MaxBytes goes in a batch of its own.
	MaxBytes int
}

// DefaultConfig returns bounds that suit Raft writes: four batches keep a
// replica's propose-append-apply pipeline busy, and 1 MiB keeps a batch
// well under Dragonboat's entry and message limits.
func DefaultConfig() Config {
	return Config{MaxInFlight: 4, MaxItems: 512, MaxBytes: 1 << 20}
}

// Validate reports bounds that cannot work.
func (c Config) Validate() error {
	if c.MaxInFlight < 1 || c.MaxItems < 1 || c.MaxBytes < 1 {
		return fmt.Errorf("batch: MaxInFlight, MaxItems and MaxBytes must be positive, got %d, %d and %d",
			c.MaxInFlight, c.MaxItems, c.MaxBytes)
	}
	return nil
}

// Result is the outcome of one request of a batch.
type Result[Resp any] struct {
	Resp Resp
	Err  error
}

// SendFunc sends a batch and returns one Result per request, in order, or
// an error that fails the whole batch. It is called from several
// goroutines at once (up to MaxInFlight). ctx is the Batcher's: it ends
// only when the Batcher closes, so SendFunc bounds its own wait.
type SendFunc[Req, Resp any] func(ctx context.Context, reqs []Req) ([]Result[Resp], error)

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("batch: closed")

// Batcher coalesces the requests of concurrent Do calls into batches and
// sends them with a SendFunc. It is safe for concurrent use.
type Batcher[Req, Resp any] struct {
	cfg  Config
	send SendFunc[Req, Resp]
	size func(Req) int

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	queue    []*call[Req, Resp]
	inFlight int
	closed   bool
}

type call[Req, Resp any] struct {
	ctx  context.Context
	req  Req
	size int
	done chan struct{}
	res  Result[Resp]
}

// New returns a Batcher that sends with send and weighs requests with size
// (nil counts every request as 1 byte, so only MaxItems bounds a batch).
func New[Req, Resp any](cfg Config, send SendFunc[Req, Resp], size func(Req) int) (*Batcher[Req, Resp], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if send == nil {
		return nil, errors.New("batch: a SendFunc is required")
	}
	if size == nil {
		size = func(Req) int { return 1 }
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Batcher[Req, Resp]{cfg: cfg, send: send, size: size, ctx: ctx, cancel: cancel}, nil
}

// Do sends req in the next batch and returns its result. If ctx ends first,
// Do returns ctx's error; req may still be sent, and take effect, if its
// batch had already left.
func (b *Batcher[Req, Resp]) Do(ctx context.Context, req Req) (Resp, error) {
	c := &call[Req, Resp]{ctx: ctx, req: req, size: b.size(req), done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		var zero Resp
		return zero, ErrClosed
	}
	b.queue = append(b.queue, c)
	var batch []*call[Req, Resp]
	if b.inFlight < b.cfg.MaxInFlight {
		b.inFlight++
		batch = b.take()
	}
	b.mu.Unlock()
	if batch != nil {
		go b.run(batch)
	}
	select {
	case <-c.done:
		return c.res.Resp, c.res.Err
	case <-ctx.Done():
		var zero Resp
		return zero, ctx.Err()
	}
}

// take removes the next batch from the queue; b.mu is held. Requests whose
// caller has given up are dropped: nobody waits for their result.
func (b *Batcher[Req, Resp]) take() []*call[Req, Resp] {
	n, bytes := 0, 0
	for n < len(b.queue) && n < b.cfg.MaxItems {
		s := b.queue[n].size
		if n > 0 && bytes+s > b.cfg.MaxBytes {
			break
		}
		bytes += s
		n++
	}
	batch := make([]*call[Req, Resp], 0, n)
	for _, c := range b.queue[:n] {
		if c.ctx.Err() == nil {
			batch = append(batch, c)
		}
	}
	clear(b.queue[:n])
	b.queue = b.queue[n:]
	if len(b.queue) == 0 {
		b.queue = nil // let the backing array go
	}
	return batch
}

// run sends batch, then keeps taking the next one from the queue while
// there is one, and gives up its slot when the queue is empty.
func (b *Batcher[Req, Resp]) run(batch []*call[Req, Resp]) {
	for {
		if len(batch) > 0 {
			b.sendBatch(batch)
		}
		b.mu.Lock()
		if len(b.queue) == 0 || b.closed {
			b.inFlight--
			b.mu.Unlock()
			return
		}
		batch = b.take()
		b.mu.Unlock()
	}
}

func (b *Batcher[Req, Resp]) sendBatch(batch []*call[Req, Resp]) {
	reqs := make([]Req, len(batch))
	for i, c := range batch {
		reqs[i] = c.req
	}
	results, err := b.send(b.ctx, reqs)
	if err == nil && len(results) != len(batch) {
		err = fmt.Errorf("batch: %d results for %d requests", len(results), len(batch))
	}
	for i, c := range batch {
		if err != nil {
			c.res.Err = err
		} else {
			c.res = results[i]
		}
		close(c.done)
	}
}

// Close fails the queued requests with ErrClosed and every later Do, and
// cancels the context of the batches being sent. It is idempotent.
func (b *Batcher[Req, Resp]) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	queue := b.queue
	b.queue = nil
	b.mu.Unlock()
	b.cancel()
	for _, c := range queue {
		c.res.Err = ErrClosed
		close(c.done)
	}
}
