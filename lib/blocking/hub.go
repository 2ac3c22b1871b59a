package blocking

import (
	"strings"
	"sync"
)

// Hub wakes blocking queries when the keys they read change. A query
// watches a prefix (a single key is a prefix of itself); a write notifies
// the key or the prefix it changed. Watching a prefix costs one map entry
// however many queries share it, and a notification costs a scan of the
// distinct watched prefixes, so a write with nobody watching is nearly free.
//
// A Hub is safe for concurrent use.
type Hub struct {
	mu      sync.Mutex
	waiters map[string]chan struct{}
}

// NewHub returns an empty Hub.
func NewHub() *Hub {
	return &Hub{waiters: make(map[string]chan struct{})}
}

// Watch returns a channel that is closed at the next change to a key under
// prefix.
func (h *Hub) Watch(prefix string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.waiters[prefix]
	if !ok {
		ch = make(chan struct{})
		h.waiters[prefix] = ch
	}
	return ch
}

// Notify wakes the watchers of every prefix of key. It costs the smaller
// of a scan of the watched prefixes and a lookup of each prefix of key.
func (h *Hub) Notify(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.waiters) == 0 {
		return
	}
	if len(h.waiters) > len(key)+1 {
		for i := 0; i <= len(key); i++ {
			if ch, ok := h.waiters[key[:i]]; ok {
				close(ch)
				delete(h.waiters, key[:i])
			}
		}
		return
	}
	for p, ch := range h.waiters {
		if strings.HasPrefix(key, p) {
			close(ch)
			delete(h.waiters, p)
		}
	}
}

// NotifyPrefix wakes the watchers of anything that a change to every key
// under prefix touches: the prefixes of prefix and the prefixes under it.
func (h *Hub) NotifyPrefix(prefix string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, ch := range h.waiters {
		if strings.HasPrefix(prefix, p) || strings.HasPrefix(p, prefix) {
			close(ch)
			delete(h.waiters, p)
		}
	}
}

// NotifyAll wakes every watcher, as after a snapshot restore.
func (h *Hub) NotifyAll() {
	h.NotifyPrefix("")
}
