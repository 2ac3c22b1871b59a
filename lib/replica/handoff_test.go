package replica

import (
	"bytes"
	"context"
	"sync"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// applyRaft commits a proposal by calling apply with a copy of its bytes,
// as Dragonboat gives the leader's state machine a copy of what was
// proposed; Propose is all a Handoff uses of a Raft.
type applyRaft struct {
	Raft
	apply func(cmd []byte) (sm.Result, error)
}

func (r applyRaft) Propose(_ context.Context, cmd []byte) (sm.Result, error) {
	return r.apply(bytes.Clone(cmd))
}

func TestHandoff(t *testing.T) {
	tests := []struct {
		name string
		// apply is the state machine's side: it gets the handoff, the
		// command proposed and the entry's bytes, and reports what it
		// took.
		apply     func(t *testing.T, h *Handoff, cmd proto.Message, entry []byte) (sm.Result, error)
		wantErr   codes.Code
		wantValue uint64
	}{
		{
			name: "the entry is applied from the command handed over",
			apply: func(t *testing.T, h *Handoff, cmd proto.Message, entry []byte) (sm.Result, error) {
				got, ok := h.Take(entry)
				if !ok || got != cmd {
					t.Errorf("Take = %v, %v; want the proposed command itself", got, ok)
				}
				if again, ok := h.Take(entry); ok {
					t.Errorf("a second Take found %v; a command is taken once", again)
				}
				return sm.Result{Value: 7}, nil
			},
			wantValue: 7,
		},
		{
			name: "other bytes find nothing",
			apply: func(t *testing.T, h *Handoff, _ proto.Message, entry []byte) (sm.Result, error) {
				other := bytes.Clone(entry)
				other[len(other)-1] ^= 1
				for _, b := range [][]byte{other, entry[:len(entry)-1], nil} {
					if got, ok := h.Take(b); ok {
						t.Errorf("Take(%q) = %v; want nothing", b, got)
					}
				}
				if h.Pending() != 1 {
					t.Errorf("%d pending during the proposal, want 1", h.Pending())
				}
				return sm.Result{Value: 8}, nil
			},
			wantValue: 8,
		},
		{
			name: "a failed proposal is forgotten",
			apply: func(*testing.T, *Handoff, proto.Message, []byte) (sm.Result, error) {
				return sm.Result{}, ErrNoLeader
			},
			wantErr: codes.Unavailable,
		},
		{
			name: "a proposal that timed out is forgotten",
			apply: func(*testing.T, *Handoff, proto.Message, []byte) (sm.Result, error) {
				return sm.Result{}, context.DeadlineExceeded
			},
			wantErr: codes.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandoff()
			cmd := wrapperspb.String("register web on n1")
			r := applyRaft{apply: func(entry []byte) (sm.Result, error) { return tt.apply(t, h, cmd, entry) }}
			res, err := h.Propose(context.Background(), r, cmd, nil)
			if got := status.Code(err); got != tt.wantErr {
				t.Fatalf("Propose: %v, want code %v", err, tt.wantErr)
			}
			if res.Value != tt.wantValue {
				t.Errorf("result %d, want %d", res.Value, tt.wantValue)
			}
			if n := h.Pending(); n != 0 {
				t.Errorf("%d commands pending after the proposal returned, want 0", n)
			}
			b, _ := proto.Marshal(cmd)
			if got, ok := h.Take(b); ok {
				t.Errorf("Take after the proposal returned = %v; want nothing", got)
			}
		})
	}
}

// TestHandoffResultData: the state machine's result data is decoded as
// ProposeMessage decodes it.
func TestHandoffResultData(t *testing.T) {
	for _, h := range []*Handoff{NewHandoff(), nil} {
		data, _ := proto.Marshal(wrapperspb.UInt64(42))
		r := applyRaft{apply: func([]byte) (sm.Result, error) { return sm.Result{Value: 3, Data: data}, nil }}
		var out wrapperspb.UInt64Value
		res, err := h.Propose(context.Background(), r, wrapperspb.String("x"), &out)
		if err != nil || res.Value != 3 || out.GetValue() != 42 {
			t.Errorf("handoff %v: Propose = %v, %v, data %v; want 3, nil, 42", h != nil, res, err, out.GetValue())
		}
		r.apply = func([]byte) (sm.Result, error) { return sm.Result{Value: 3, Data: []byte{0xff}}, nil }
		if _, err := h.Propose(context.Background(), r, wrapperspb.String("x"), &out); status.Code(err) != codes.Internal {
			t.Errorf("handoff %v: undecodable result data: %v, want Internal", h != nil, err)
		}
	}
}

// TestHandoffNil: a nil Handoff proposes and hands nothing over.
func TestHandoffNil(t *testing.T) {
	var h *Handoff
	var entry []byte
	r := applyRaft{apply: func(b []byte) (sm.Result, error) { entry = b; return sm.Result{Value: 1}, nil }}
	cmd := wrapperspb.String("x")
	if _, err := h.Propose(context.Background(), r, cmd, nil); err != nil {
		t.Fatal(err)
	}
	if want, _ := proto.Marshal(cmd); !bytes.Equal(entry, want) {
		t.Errorf("proposed %x, want %x", entry, want)
	}
	if got, ok := h.Take(entry); ok || h.Pending() != 0 {
		t.Errorf("Take = %v, %v; want nothing", got, ok)
	}
}

// TestHandoffSameBytes: two proposals of equal commands in flight at once
// have one encoding. Their entries are applied from one command and from
// the bytes, each command at most once, and neither is left behind.
func TestHandoffSameBytes(t *testing.T) {
	h := NewHandoff()
	arrived := make(chan []byte)
	release := make(chan struct{})
	r := applyRaft{apply: func(entry []byte) (sm.Result, error) {
		arrived <- entry
		<-release
		return sm.Result{Value: 1}, nil
	}}
	a, b := wrapperspb.String("same"), wrapperspb.String("same")
	var wg sync.WaitGroup
	for _, cmd := range []proto.Message{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Propose(context.Background(), r, cmd, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	first, second := <-arrived, <-arrived
	got1, ok1 := h.Take(first)
	got2, ok2 := h.Take(second)
	if !ok1 || (got1 != a && got1 != b) {
		t.Errorf("first entry took %v, %v; want one of the two commands", got1, ok1)
	}
	if ok2 {
		t.Errorf("second entry took %v; the one command left was replaced, so it decodes", got2)
	}
	close(release)
	wg.Wait()
	if n := h.Pending(); n != 0 {
		t.Errorf("%d commands pending, want 0", n)
	}
}

// TestCommand: a state machine gets the command handed over for an entry,
// or else the entry decoded, or the decoding's error.
func TestCommand(t *testing.T) {
	h := NewHandoff()
	handed := wrapperspb.String("handed")
	var got *wrapperspb.StringValue
	r := applyRaft{apply: func(entry []byte) (sm.Result, error) {
		var err error
		got, err = Command[wrapperspb.StringValue](h, entry)
		return sm.Result{}, err
	}}
	if _, err := h.Propose(context.Background(), r, handed, nil); err != nil {
		t.Fatal(err)
	}
	if got != handed {
		t.Errorf("Command = %p, want the handed command %p", got, handed)
	}

	b, _ := proto.Marshal(wrapperspb.String("decoded"))
	if cmd, err := Command[wrapperspb.StringValue](h, b); err != nil || cmd.GetValue() != "decoded" {
		t.Errorf("Command of an entry not handed over = %v, %v; want it decoded", cmd, err)
	}
	if cmd, err := Command[wrapperspb.StringValue](nil, []byte{0xff}); err == nil {
		t.Errorf("Command of bad bytes = %v; want an error", cmd)
	}
}
