package replica

import (
	"context"
	"sync"
	"unsafe"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Handoff passes the commands a server proposes to the state machine of
// its own replica, so that the replica that proposed an entry applies it
// from the command it encoded instead of decoding the entry again. The
// other replicas, and this one when it replays its log, decode the entry
// as usual.
//
// A command is found by its encoding: the state machine takes the
// command whose bytes equal the entry's, so what it applies is always what
// the entry says, whichever replica applies it. A command is taken at
// most once, and is forgotten when its proposal returns, applied or not.
//
// Handing a command over gives it away: the state machine may keep its
// records, so the proposer must not change the command, or anything it
// points to, once it has proposed it. A nil *Handoff hands nothing over.
type Handoff struct {
	mu sync.Mutex
	m  map[string]*handed
}

// handed is a command waiting for its entry to be applied.
type handed struct {
	key string // the encoding, shared with the proposer's buffer
	cmd proto.Message
}

// NewHandoff returns an empty Handoff.
func NewHandoff() *Handoff {
	return &Handoff{m: make(map[string]*handed)}
}

// Propose proposes cmd as ProposeMessage does, and hands it to the
// state machine for the time of the proposal.
func (h *Handoff) Propose(ctx context.Context, r Raft, cmd, data proto.Message) (sm.Result, error) {
	b, err := proto.Marshal(cmd)
	if err != nil {
		return sm.Result{}, status.Error(codes.Internal, err.Error())
	}
	if h == nil || len(b) == 0 {
		return proposeBytes(ctx, r, b, data)
	}
	// b is never written again: Dragonboat copies what it is given, so the
	// key may share its memory.
	w := &handed{key: unsafe.String(&b[0], len(b)), cmd: cmd}
	h.mu.Lock()
	// Another proposal of the same bytes replaces this one's: either
	// command is a correct reading of either entry.
	h.m[w.key] = w
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if h.m[w.key] == w {
			delete(h.m, w.key)
		}
		h.mu.Unlock()
	}()
	return proposeBytes(ctx, r, b, data)
}

// Take returns the command whose encoding is cmd, if a proposal of this
// process handed it over and it has not been taken, and forgets it. The
// caller owns what it returns.
func (h *Handoff) Take(cmd []byte) (proto.Message, bool) {
	if h == nil || len(cmd) == 0 {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	w, ok := h.m[string(cmd)]
	if !ok {
		return nil, false
	}
	delete(h.m, w.key)
	return w.cmd, true
}

// Command returns the command an entry holds, for a state machine whose
// commands are PT: the one its server handed over through h, or else the
// entry's bytes decoded.
func Command[T any, PT interface {
	*T
	proto.Message
}](h *Handoff, entry []byte) (PT, error) {
	if m, ok := h.Take(entry); ok {
		if cmd, ok := m.(PT); ok {
			return cmd, nil
		}
	}
	cmd := PT(new(T))
	if err := proto.Unmarshal(entry, cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// Pending is how many commands are waiting to be taken.
func (h *Handoff) Pending() int {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}
