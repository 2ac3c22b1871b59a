package store_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/kv/fsm/v1"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	"github.com/tribune/tribune/services/kv/store"
)

func cas(i uint64) *uint64 { return &i }

// state is everything a Store holds, for comparisons.
type state struct {
	Entries    []store.Entry
	Tombstones []store.Tombstone
	Applied    uint64
}

func dump(s *store.Store) state {
	var st state
	s.Entries(func(e *store.Entry) bool {
		st.Entries = append(st.Entries, *e)
		return true
	})
	s.Tombstones(func(t store.Tombstone) bool {
		st.Tombstones = append(st.Tombstones, t)
		return true
	})
	st.Applied = s.Applied()
	return st
}

// put is a Put at index that must succeed.
func put(t *testing.T, s *store.Store, index uint64, key, value string) {
	t.Helper()
	if !s.Put(index, key, []byte(value), 0, nil) {
		t.Fatalf("Put(%d, %q) refused", index, key)
	}
	s.SetApplied(index)
}

func del(t *testing.T, s *store.Store, index uint64, key string) {
	t.Helper()
	if !s.Delete(index, key, nil) {
		t.Fatalf("Delete(%d, %q) refused", index, key)
	}
	s.SetApplied(index)
}

func mustGet(t *testing.T, s *store.Store, key string) *store.Entry {
	t.Helper()
	e, _ := s.Get(key)
	if e == nil {
		t.Fatalf("Get(%q) = nil, want an entry", key)
	}
	return e
}

// putOp is a Put, or a Delete when value is "<del>".
type putOp struct {
	index      uint64
	key, value string
	flags      uint64
}

func TestPutIndexes(t *testing.T) {
	tests := []struct {
		name string
		// ops run in order.
		ops        []putOp
		key        string
		wantValue  string
		wantFlags  uint64
		wantCreate uint64
		wantModify uint64
	}{
		{
			name: "create",
			ops: []putOp{
				{5, "k", "v1", 7},
			},
			key: "k", wantValue: "v1", wantFlags: 7, wantCreate: 5, wantModify: 5,
		},
		{
			name: "update keeps CreateIndex, moves ModifyIndex, replaces value and flags",
			ops: []putOp{
				{5, "k", "v1", 7},
				{9, "k", "v2", 3},
			},
			key: "k", wantValue: "v2", wantFlags: 3, wantCreate: 5, wantModify: 9,
		},
		{
			name: "other keys do not move it",
			ops: []putOp{
				{5, "k", "v1", 0},
				{6, "k2", "x", 0},
				{7, "j", "x", 0},
			},
			key: "k", wantValue: "v1", wantCreate: 5, wantModify: 5,
		},
		{
			name: "recreate after delete is a new key",
			ops: []putOp{
				{3, "k", "v1", 0},
				{4, "k", "<del>", 0},
				{7, "k", "v2", 0},
			},
			key: "k", wantValue: "v2", wantCreate: 7, wantModify: 7,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			for _, op := range tt.ops {
				if op.value == "<del>" {
					del(t, s, op.index, op.key)
					continue
				}
				if !s.Put(op.index, op.key, []byte(op.value), op.flags, nil) {
					t.Fatalf("Put(%d, %q) refused", op.index, op.key)
				}
			}
			e, index := s.Get(tt.key)
			if e == nil {
				t.Fatalf("Get(%q) = nil", tt.key)
			}
			if string(e.Value) != tt.wantValue || e.Flags != tt.wantFlags {
				t.Errorf("value, flags = %q, %d; want %q, %d", e.Value, e.Flags, tt.wantValue, tt.wantFlags)
			}
			if e.CreateIndex != tt.wantCreate || e.ModifyIndex != tt.wantModify {
				t.Errorf("CreateIndex, ModifyIndex = %d, %d; want %d, %d",
					e.CreateIndex, e.ModifyIndex, tt.wantCreate, tt.wantModify)
			}
			if index != tt.wantModify {
				t.Errorf("Get index = %d, want %d", index, tt.wantModify)
			}
			// A live key has no tombstone, or Since would report it deleted.
			if n := s.TombstoneLen(); n != 0 {
				t.Errorf("TombstoneLen = %d, want 0", n)
			}
		})
	}
}

func TestPutKeepsLockIndexAndSession(t *testing.T) {
	// LockIndex and Session are only set by sessions (not yet), so load
	// them from a snapshot.
	s, err := store.ReadSnapshot(snapshotBytes(t, 10,
		[]*kvv1.KVPair{{Key: "lock", Value: []byte("a"), CreateIndex: 3, ModifyIndex: 8, LockIndex: 2, Session: "sess-1"}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Put(11, "lock", []byte("b"), 0, nil) {
		t.Fatal("Put refused")
	}
	got := *mustGet(t, s, "lock")
	want := store.Entry{Key: "lock", Value: []byte("b"), CreateIndex: 3, ModifyIndex: 11, LockIndex: 2, Session: "sess-1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after Put: %+v, want %+v", got, want)
	}
}

func TestPutCAS(t *testing.T) {
	tests := []struct {
		name string
		// setup: "absent", "present" (written at 10) or "deleted" (written
		// at 10, deleted at 12).
		setup      string
		cas        uint64
		wantOK     bool
		wantValue  string // "" when the key must not exist
		wantCreate uint64
		wantModify uint64
	}{
		{"create-only on absent key", "absent", 0, true, "new", 20, 20},
		{"create-only on present key", "present", 0, false, "old", 10, 10},
		{"create-only on deleted key", "deleted", 0, true, "new", 20, 20},
		{"matching index", "present", 10, true, "new", 10, 20},
		{"stale index", "present", 9, false, "old", 10, 10},
		{"future index", "present", 11, false, "old", 10, 10},
		{"index of absent key", "absent", 10, false, "", 0, 0},
		{"old index of deleted key", "deleted", 10, false, "", 0, 0},
		{"tombstone index of deleted key", "deleted", 12, false, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			put(t, s, 5, "other", "x")
			switch tt.setup {
			case "present":
				put(t, s, 10, "k", "old")
			case "deleted":
				put(t, s, 10, "k", "old")
				del(t, s, 12, "k")
			}
			before := dump(s)
			ok := s.Put(20, "k", []byte("new"), 0, cas(tt.cas))
			if ok != tt.wantOK {
				t.Fatalf("Put(cas=%d) = %v, want %v", tt.cas, ok, tt.wantOK)
			}
			if !ok && !reflect.DeepEqual(dump(s), before) {
				t.Errorf("refused Put changed the store:\n got %+v\nwant %+v", dump(s), before)
			}
			e, _ := s.Get("k")
			if tt.wantValue == "" {
				if e != nil {
					t.Fatalf("Get = %+v, want nil", e)
				}
				return
			}
			if e == nil {
				t.Fatal("Get = nil")
			}
			if string(e.Value) != tt.wantValue || e.CreateIndex != tt.wantCreate || e.ModifyIndex != tt.wantModify {
				t.Errorf("entry = %q create %d modify %d; want %q create %d modify %d",
					e.Value, e.CreateIndex, e.ModifyIndex, tt.wantValue, tt.wantCreate, tt.wantModify)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	noCAS := ^uint64(0) // marker: delete without cas
	tests := []struct {
		name    string
		present bool // "k" written at 10
		cas     uint64
		wantOK  bool
		// wantIndex is Get("k")'s index afterwards.
		wantIndex uint64
		wantTombs int
	}{
		{"present, no cas", true, noCAS, true, 20, 1},
		{"present, matching cas", true, 10, true, 20, 1},
		{"present, stale cas", true, 9, false, 10, 0},
		{"present, future cas", true, 11, false, 10, 0},
		// Unlike a Put, cas=0 never deletes a key that exists.
		{"present, cas 0", true, 0, false, 10, 0},
		{"absent, no cas", false, noCAS, true, 0, 0},
		// As Consul's kvsDeleteCASTxn: nothing to delete is a success.
		{"absent, cas 0", false, 0, true, 0, 0},
		{"absent, cas 10", false, 10, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			put(t, s, 5, "other", "x")
			if tt.present {
				put(t, s, 10, "k", "v")
			}
			var c *uint64
			if tt.cas != noCAS {
				c = cas(tt.cas)
			}
			if ok := s.Delete(20, "k", c); ok != tt.wantOK {
				t.Fatalf("Delete = %v, want %v", ok, tt.wantOK)
			}
			e, index := s.Get("k")
			wantLive := tt.present && !tt.wantOK
			if (e != nil) != wantLive {
				t.Errorf("Get = %+v, want live %v", e, wantLive)
			}
			if index != tt.wantIndex {
				t.Errorf("Get index = %d, want %d", index, tt.wantIndex)
			}
			if n := s.TombstoneLen(); n != tt.wantTombs {
				t.Errorf("TombstoneLen = %d, want %d", n, tt.wantTombs)
			}
			if got := mustGet(t, s, "other"); got.ModifyIndex != 5 {
				t.Errorf("unrelated key changed: %+v", got)
			}
		})
	}
}

func TestDeleteTree(t *testing.T) {
	keys := []string{"a", "a/1", "a/2", "a/2/x", "ab", "b/1"}
	tests := []struct {
		prefix string
		want   []string // keys removed
	}{
		{"a/", []string{"a/1", "a/2", "a/2/x"}},
		{"a/2", []string{"a/2", "a/2/x"}},
		{"a", []string{"a", "a/1", "a/2", "a/2/x", "ab"}},
		{"b/", []string{"b/1"}},
		{"c", nil},
		{"", keys},
	}
	for _, tt := range tests {
		t.Run("prefix "+tt.prefix, func(t *testing.T) {
			s := store.New()
			for i, k := range keys {
				put(t, s, uint64(i+1), k, "v")
			}
			if n := s.DeleteTree(100, tt.prefix); n != len(tt.want) {
				t.Errorf("DeleteTree = %d, want %d", n, len(tt.want))
			}
			var live []string
			s.Entries(func(e *store.Entry) bool {
				live = append(live, e.Key)
				return true
			})
			wantLive := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return slices.Contains(tt.want, k) })
			if !slices.Equal(live, wantLive) {
				t.Errorf("live keys = %q, want %q", live, wantLive)
			}
			var tombs []store.Tombstone
			s.Tombstones(func(tb store.Tombstone) bool {
				tombs = append(tombs, tb)
				return true
			})
			var wantTombs []store.Tombstone
			for _, k := range tt.want {
				wantTombs = append(wantTombs, store.Tombstone{Key: k, Index: 100})
			}
			if !slices.Equal(tombs, wantTombs) {
				t.Errorf("tombstones = %v, want %v", tombs, wantTombs)
			}
			// The prefix's index moves to the delete when it removed
			// something, and stays put when it did not.
			entries, index := s.List(tt.prefix)
			wantIndex := uint64(100)
			if len(tt.want) == 0 {
				wantIndex = 0
			}
			if len(entries) != 0 || index != wantIndex {
				t.Errorf("List(%q) = %d entries, index %d; want 0, %d", tt.prefix, len(entries), index, wantIndex)
			}
		})
	}
}

// TestIndexesWithTombstones checks that the index of a key or prefix never
// goes backwards when keys go away, so a blocking query sees deletes.
func TestIndexesWithTombstones(t *testing.T) {
	s := store.New()
	steps := []struct {
		name string
		do   func()
		// The indexes of Get("a/2"), List("a/") and Keys("a/") after do.
		wantKey, wantPrefix uint64
		wantLen             int // entries under a/
	}{
		{"empty", func() {}, 0, 0, 0},
		{"put a/1", func() { put(t, s, 1, "a/1", "v") }, 0, 1, 1},
		{"put a/2", func() { put(t, s, 2, "a/2", "v") }, 2, 2, 2},
		{"put a/3", func() { put(t, s, 3, "a/3", "v") }, 2, 3, 3},
		{"put b", func() { put(t, s, 4, "b", "v") }, 2, 3, 3},
		// a/1 is not the newest key: without tombstones the index would stay 3.
		{"delete a/1", func() { del(t, s, 5, "a/1") }, 2, 5, 2},
		{"delete a/2", func() { del(t, s, 6, "a/2") }, 6, 6, 1},
		{"delete b", func() { del(t, s, 7, "b") }, 6, 6, 1},
		{"delete missing a/9", func() { del(t, s, 8, "a/9") }, 6, 6, 1},
		{"delete tree a/", func() { s.DeleteTree(9, "a/") }, 6, 9, 0},
		{"recreate a/2", func() { put(t, s, 10, "a/2", "v") }, 10, 10, 1},
		{"delete tree a/ again", func() { s.DeleteTree(11, "a/") }, 11, 11, 0},
	}
	var lastKey, lastPrefix uint64
	for _, st := range steps {
		st.do()
		_, keyIndex := s.Get("a/2")
		entries, listIndex := s.List("a/")
		keys, keysIndex := s.Keys("a/", "")
		if keyIndex != st.wantKey {
			t.Errorf("%s: Get index = %d, want %d", st.name, keyIndex, st.wantKey)
		}
		if listIndex != st.wantPrefix || keysIndex != st.wantPrefix {
			t.Errorf("%s: List, Keys index = %d, %d; want %d", st.name, listIndex, keysIndex, st.wantPrefix)
		}
		if len(entries) != st.wantLen || len(keys) != st.wantLen {
			t.Errorf("%s: List, Keys = %d, %d entries; want %d", st.name, len(entries), len(keys), st.wantLen)
		}
		if keyIndex < lastKey || listIndex < lastPrefix {
			t.Errorf("%s: index went backwards: key %d -> %d, prefix %d -> %d",
				st.name, lastKey, keyIndex, lastPrefix, listIndex)
		}
		lastKey, lastPrefix = keyIndex, listIndex
	}
}

func TestListAndKeys(t *testing.T) {
	// In byte order; '-' sorts before '/'.
	keys := []string{"a", "a/", "a/b", "a/b-c", "a/b/", "a/b/c", "a/b/c/d", "a/d", "a/e/f", "ab", "b/x"}
	s := store.New()
	// Write in reverse so that key order is not write order.
	for i, k := range slices.Backward(keys) {
		put(t, s, uint64(100-i), k, "v-"+k)
	}
	indexOf := func(k string) uint64 { return mustGet(t, s, k).ModifyIndex }
	under := func(prefix string) []string {
		var out []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				out = append(out, k)
			}
		}
		return out
	}

	tests := []struct {
		prefix, sep string
		want        []string
	}{
		// Consul: a key with the separator after the prefix rolls up to a
		// "directory" ending with it, listed once; a key without stays.
		// So "a/b" and "a/b/" both appear when both kinds exist.
		{"a/", "/", []string{"a/", "a/b", "a/b-c", "a/b/", "a/d", "a/e/"}},
		{"a/b", "/", []string{"a/b", "a/b-c", "a/b/"}},
		{"a/b/", "/", []string{"a/b/", "a/b/c", "a/b/c/"}},
		{"a", "/", []string{"a", "a/", "ab"}},
		{"", "/", []string{"a", "a/", "ab", "b/"}},
		// A separator of several bytes.
		{"a/b", "/c", []string{"a/b", "a/b-c", "a/b/", "a/b/c"}},
		// No separator: every key.
		{"a/", "", under("a/")},
		{"", "", keys},
		{"zz", "/", nil},
	}
	for _, tt := range tests {
		t.Run("keys "+tt.prefix+" sep "+tt.sep, func(t *testing.T) {
			got, index := s.Keys(tt.prefix, tt.sep)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Keys(%q, %q) = %q, want %q", tt.prefix, tt.sep, got, tt.want)
			}
			var wantIndex uint64
			for _, k := range under(tt.prefix) {
				wantIndex = max(wantIndex, indexOf(k))
			}
			if index != wantIndex {
				t.Errorf("index = %d, want %d", index, wantIndex)
			}
		})
	}

	for _, prefix := range []string{"", "a", "a/", "a/b/", "b", "zz"} {
		t.Run("list "+prefix, func(t *testing.T) {
			entries, index := s.List(prefix)
			var got []string
			for _, e := range entries {
				got = append(got, e.Key)
				if string(e.Value) != "v-"+e.Key {
					t.Errorf("%s: value %q", e.Key, e.Value)
				}
			}
			want := under(prefix)
			if !slices.Equal(got, want) {
				t.Errorf("List(%q) = %q, want %q", prefix, got, want)
			}
			var wantIndex uint64
			for _, k := range want {
				wantIndex = max(wantIndex, indexOf(k))
			}
			if index != wantIndex {
				t.Errorf("index = %d, want %d", index, wantIndex)
			}
		})
	}
}

func TestSince(t *testing.T) {
	s := store.New()
	put(t, s, 1, "a/1", "v")
	put(t, s, 2, "a/2", "v")
	put(t, s, 3, "a/3", "v")
	put(t, s, 4, "b", "v")
	del(t, s, 5, "a/2")
	put(t, s, 6, "a/1", "v2")
	put(t, s, 7, "a/4", "v")
	del(t, s, 8, "a/4")
	del(t, s, 9, "b")

	// change is "key@index" for a put, "-key@index" for a tombstone.
	tests := []struct {
		prefix    string
		after     uint64
		want      []string // in index order
		wantIndex uint64
	}{
		{"a/", 0, []string{"a/3@3", "-a/2@5", "a/1@6", "-a/4@8"}, 8},
		{"a/", 3, []string{"-a/2@5", "a/1@6", "-a/4@8"}, 8},
		{"a/", 5, []string{"a/1@6", "-a/4@8"}, 8},
		{"a/", 7, []string{"-a/4@8"}, 8},
		{"a/", 8, nil, 8},
		{"a/3", 0, []string{"a/3@3"}, 3},
		{"", 8, []string{"-b@9"}, 9},
		{"b", 0, []string{"-b@9"}, 9},
		{"c", 0, nil, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q after %d", tt.prefix, tt.after), func(t *testing.T) {
			changes, index := s.Since(tt.prefix, tt.after)
			slices.SortStableFunc(changes, func(a, b store.Change) int { return cmp.Compare(a.Index(), b.Index()) })
			var got []string
			for _, c := range changes {
				switch {
				case c.Entry != nil:
					got = append(got, fmt.Sprintf("%s@%d", c.Entry.Key, c.Entry.ModifyIndex))
				default:
					got = append(got, fmt.Sprintf("-%s@%d", c.Tombstone.Key, c.Tombstone.Index))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Since(%q, %d) = %q, want %q", tt.prefix, tt.after, got, tt.want)
			}
			if index != tt.wantIndex {
				t.Errorf("index = %d, want %d", index, tt.wantIndex)
			}
		})
	}
}

func TestClone(t *testing.T) {
	tests := []struct {
		name  string
		write func(*store.Store)
	}{
		{"put new key", func(s *store.Store) { s.Put(50, "new", []byte("x"), 0, nil) }},
		{"overwrite key", func(s *store.Store) { s.Put(50, "k/05", []byte("changed"), 1, nil) }},
		{"delete key", func(s *store.Store) { s.Delete(50, "k/05", nil) }},
		{"recreate deleted key", func(s *store.Store) { s.Put(50, "gone", []byte("back"), 0, nil) }},
		{"delete tree", func(s *store.Store) { s.DeleteTree(50, "k/") }},
		{"set applied", func(s *store.Store) { s.SetApplied(50) }},
	}
	// Enough keys for several B-tree nodes, so copy-on-write is exercised.
	build := func(t *testing.T) *store.Store {
		s := store.New()
		for i := range 40 {
			put(t, s, uint64(i+1), fmt.Sprintf("k/%02d", i), "v")
		}
		put(t, s, 41, "gone", "v")
		del(t, s, 42, "gone")
		return s
	}
	for _, tt := range tests {
		for _, side := range []string{"original", "clone"} {
			t.Run(tt.name+" on "+side, func(t *testing.T) {
				s := build(t)
				c := s.Clone()
				want := dump(s)
				if !reflect.DeepEqual(dump(c), want) {
					t.Fatalf("clone differs from original:\n got %+v\nwant %+v", dump(c), want)
				}
				written, other := s, c
				if side == "clone" {
					written, other = c, s
				}
				tt.write(written)
				if reflect.DeepEqual(dump(written), want) {
					t.Fatal("write changed nothing; the case tests nothing")
				}
				if got := dump(other); !reflect.DeepEqual(got, want) {
					t.Errorf("write to the %s is visible in the other copy:\n got %+v\nwant %+v", side, got, want)
				}
			})
		}
	}
}

// snapshotBytes writes a snapshot by hand, as WriteSnapshot would.
func snapshotBytes(t *testing.T, applied uint64, pairs []*kvv1.KVPair, tombs []*fsmv1.Tombstone) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	msgs := []proto.Message{&fsmv1.SnapshotHeader{
		Version: store.SnapshotVersion, AppliedIndex: applied,
		Entries: uint64(len(pairs)), Tombstones: uint64(len(tombs)),
	}}
	for _, p := range pairs {
		msgs = append(msgs, &fsmv1.SnapshotEntry{Pair: p})
	}
	for _, tb := range tombs {
		msgs = append(msgs, tb)
	}
	for _, m := range msgs {
		if _, err := protodelim.MarshalTo(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	return &buf
}

func TestSnapshotRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<10) // 160 KiB: several buffers
	tests := []struct {
		name  string
		build func(t *testing.T, s *store.Store)
	}{
		{"empty", func(t *testing.T, s *store.Store) {}},
		{"applied only", func(t *testing.T, s *store.Store) { s.SetApplied(77) }},
		{"entries", func(t *testing.T, s *store.Store) {
			s.Put(3, "a", []byte("1"), 42, nil)
			s.Put(4, "b/c", nil, 0, nil)
			s.Put(5, "bin", []byte{0, 1, 2, 255}, ^uint64(0), nil)
			s.Put(6, "a", []byte("2"), 43, nil) // CreateIndex 3, ModifyIndex 6
			s.SetApplied(9)
		}},
		{"tombstones only", func(t *testing.T, s *store.Store) {
			for i := range 5 {
				k := fmt.Sprintf("t/%c", 'a'+i)
				s.Put(uint64(2*i+1), k, []byte("v"), 0, nil)
				s.Delete(uint64(2*i+2), k, nil)
			}
			s.SetApplied(10)
		}},
		{"tombstones reaped", func(t *testing.T, s *store.Store) {
			for i := range 5 {
				k := fmt.Sprintf("t/%c", 'a'+i)
				s.Put(uint64(2*i+1), k, []byte("v"), 0, nil)
				s.Delete(uint64(2*i+2), k, nil)
			}
			s.ReapTombstones(6)
			s.SetApplied(11)
		}},
		{"mixed and large", func(t *testing.T, s *store.Store) {
			for i := range 300 {
				s.Put(uint64(i+1), fmt.Sprintf("k/%d", i), []byte(strconv.Itoa(i)), uint64(i), nil)
			}
			s.Put(301, "big", big, 0, nil)
			s.DeleteTree(302, "k/1")
			s.Delete(303, "k/2", nil)
			s.SetApplied(310)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New()
			tt.build(t, s)
			var buf bytes.Buffer
			if err := s.WriteSnapshot(&buf); err != nil {
				t.Fatal(err)
			}
			got, err := store.ReadSnapshot(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(dump(got), dump(s)) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", dump(got), dump(s))
			}
			if got.Reaped() != s.Reaped() {
				t.Errorf("Reaped = %d, want %d", got.Reaped(), s.Reaped())
			}
			if got.Len() != s.Len() || got.TombstoneLen() != s.TombstoneLen() {
				t.Errorf("Len, TombstoneLen = %d, %d; want %d, %d", got.Len(), got.TombstoneLen(), s.Len(), s.TombstoneLen())
			}
			for _, prefix := range []string{"", "a", "k/", "k/1", "t/", "t/c", "zz"} {
				_, gi := got.List(prefix)
				_, wi := s.List(prefix)
				if gi != wi {
					t.Errorf("List(%q) index = %d, want %d", prefix, gi, wi)
				}
			}
			if buf.Len() != 0 {
				t.Errorf("ReadSnapshot left %d bytes unread", buf.Len())
			}
		})
	}
}

func TestReadSnapshotErrors(t *testing.T) {
	var good bytes.Buffer
	s := store.New()
	s.Put(1, "a", []byte("value"), 0, nil)
	s.Put(2, "b", []byte("value"), 0, nil)
	s.Delete(3, "b", nil)
	if err := s.WriteSnapshot(&good); err != nil {
		t.Fatal(err)
	}
	delimited := func(m proto.Message) []byte {
		var b bytes.Buffer
		if _, err := protodelim.MarshalTo(&b, m); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	hdr := func(version uint32, entries, tombs uint64) []byte {
		return delimited(&fsmv1.SnapshotHeader{Version: version, AppliedIndex: 1, Entries: entries, Tombstones: tombs})
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"text", []byte("this is not a snapshot")},
		{"bad protobuf", []byte{0x03, 0xff, 0xff, 0xff}},
		{"version 0", hdr(0, 0, 0)},
		{"version 2", hdr(2, 0, 0)},
		{"missing entry", hdr(store.SnapshotVersion, 1, 0)},
		{"missing tombstone", append(hdr(store.SnapshotVersion, 1, 1),
			delimited(&fsmv1.SnapshotEntry{Pair: &kvv1.KVPair{Key: "a"}})...)},
		{"truncated", good.Bytes()[:good.Len()-2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.ReadSnapshot(bytes.NewReader(tt.in))
			if !errors.Is(err, store.ErrBadSnapshot) {
				t.Fatalf("ReadSnapshot = %v, %v; want an error wrapping ErrBadSnapshot", got, err)
			}
			if got != nil {
				t.Errorf("ReadSnapshot returned a store with its error")
			}
		})
	}
}

func TestReapTombstones(t *testing.T) {
	s := store.New()
	s.Put(1, "a/1", []byte("v"), 0, nil)
	s.Put(2, "a/2", []byte("v"), 0, nil)
	s.Put(3, "b/1", []byte("v"), 0, nil)
	s.Delete(4, "a/1", nil)
	s.Delete(5, "b/1", nil)
	s.Put(6, "c", []byte("v"), 0, nil)
	s.Delete(7, "c", nil)

	if s.HasTombstonesUpTo(3) || !s.HasTombstonesUpTo(4) {
		t.Fatalf("HasTombstonesUpTo(3), (4) = %v, %v; want false, true", s.HasTombstonesUpTo(3), s.HasTombstonesUpTo(4))
	}
	if n := s.ReapTombstones(5); n != 2 || s.TombstoneLen() != 1 || s.Reaped() != 5 {
		t.Fatalf("reap up to 5: %d reaped, %d left, floor %d; want 2, 1, 5", n, s.TombstoneLen(), s.Reaped())
	}
	for _, tt := range []struct {
		what  string
		index func() uint64
		want  uint64
	}{
		// A reaped key, and a prefix with nothing left, answer the floor:
		// not below their deletion.
		{"Get of a reaped key", func() uint64 { _, i := s.Get("b/1"); return i }, 5},
		{"List of an emptied prefix", func() uint64 { _, i := s.List("b/"); return i }, 5},
		{"Keys of an emptied prefix", func() uint64 { _, i := s.Keys("b/", "/"); return i }, 5},
		{"Get of a key never written", func() uint64 { _, i := s.Get("zz"); return i }, 5},
		// Entries and tombstones left keep their own indexes.
		{"List of a prefix with an entry", func() uint64 { _, i := s.List("a/"); return i }, 2},
		{"Get of a tombstone left", func() uint64 { _, i := s.Get("c"); return i }, 7},
	} {
		if got := tt.index(); got != tt.want {
			t.Errorf("%s: index %d, want %d", tt.what, got, tt.want)
		}
	}

	if s.HasTombstonesUpTo(6) || !s.HasTombstonesUpTo(7) {
		t.Fatal("after the reap, only the tombstone at 7 is left")
	}
	// The floor never goes down; reaping again at or below it drops nothing.
	if n := s.ReapTombstones(3); n != 0 || s.Reaped() != 5 || s.TombstoneLen() != 1 {
		t.Fatalf("reap up to 3: %d reaped, floor %d, %d left", n, s.Reaped(), s.TombstoneLen())
	}
	// A key written again after its tombstone was reaped is an ordinary key.
	s.Put(8, "b/1", []byte("w"), 0, nil)
	if e, i := s.Get("b/1"); e == nil || e.CreateIndex != 8 || i != 8 {
		t.Fatalf("b/1 written again: %+v at %d", e, i)
	}
}
