package membership

import (
	"errors"
	"sync"

	"github.com/hashicorp/serf/serf"

	"github.com/tribune/tribune/services/membership/server"
)

// Errors that end a subscription.
var (
	// ErrSlowSubscriber ends a subscription whose reader fell behind by
	// more than its buffer: serf's event channel must never block.
	ErrSlowSubscriber = errors.New("membership: the watcher fell behind the member events; watch again")
	// ErrShutdown ends the subscriptions of an agent that shut down.
	ErrShutdown = errors.New("membership: the agent's gossip pools are shut down")
)

// hub fans the member events of one pool out to its subscribers.
type hub struct {
	buffer int

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool
}

func newHub(buffer int) *hub {
	return &hub{buffer: buffer, subs: map[*subscription]struct{}{}}
}

type subscription struct {
	h   *hub
	ch  chan serf.MemberEvent
	err error // set under h.mu before ch is closed
}

var _ server.Subscription = (*subscription)(nil)

func (s *subscription) Events() <-chan serf.MemberEvent { return s.ch }

// Err says why Events was closed: nil after Close.
func (s *subscription) Err() error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return s.err
}

// Close ends the subscription; calling it twice is fine.
func (s *subscription) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.end(s, nil)
}

// end closes s's channel once; h.mu is held.
func (h *hub) end(s *subscription, err error) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	s.err = err
	close(s.ch)
}

func (h *hub) subscribe() (*subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrShutdown
	}
	s := &subscription{h: h, ch: make(chan serf.MemberEvent, h.buffer)}
	h.subs[s] = struct{}{}
	return s, nil
}

// publish hands ev to every subscriber without blocking.
func (h *hub) publish(ev serf.MemberEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- ev:
		default:
			h.end(s, ErrSlowSubscriber)
		}
	}
}

// close ends every subscription with ErrShutdown and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.end(s, ErrShutdown)
	}
}
