// Package store holds the KV shard's data in memory: the live entries in
// key order and the tombstones of deleted keys, with the Raft index of every
// change. It knows nothing of Raft or locking; package fsm applies the
// replicated log to it under a lock and snapshots it.
package store

import (
	"strings"

	"github.com/google/btree"
)

// Entry is one key. Entries are immutable once stored: a write replaces
// the entry, so a reader may keep one after the store's lock is released.
type Entry struct {
	Key         string
	Value       []byte
	Flags       uint64
	CreateIndex uint64
	ModifyIndex uint64
	LockIndex   uint64
	Session     string
}

// Tombstone records that Key was deleted at Index.
type Tombstone struct {
	Key   string
	Index uint64
}

// Store is the KV data. Its methods are not safe for concurrent use with
// writes; a Clone is an independent copy that shares storage until either
// side writes (copy-on-write), so a snapshot can be written from a clone
// while the original keeps applying.
type Store struct {
	entries *btree.BTreeG[*Entry]
	tombs   *btree.BTreeG[Tombstone]
	// applied is the last Raft index applied, whatever it changed.
	applied uint64
	// reaped is the highest index of the tombstones reaped: the floor of
	// the index of a key or prefix that has nothing left, so that its
	// index does not go back below a deletion that was reaped.
	reaped uint64
}

const degree = 32

// New returns an empty Store.
func New() *Store {
	return &Store{
		entries: btree.NewG(degree, func(a, b *Entry) bool { return a.Key < b.Key }),
		tombs:   btree.NewG(degree, func(a, b Tombstone) bool { return a.Key < b.Key }),
	}
}

// Clone returns a copy-on-write copy of s.
func (s *Store) Clone() *Store {
	return &Store{entries: s.entries.Clone(), tombs: s.tombs.Clone(), applied: s.applied, reaped: s.reaped}
}

// Applied returns the last Raft index applied to s.
func (s *Store) Applied() uint64 { return s.applied }

// SetApplied records that the Raft log has been applied up to index.
func (s *Store) SetApplied(index uint64) {
	if index > s.applied {
		s.applied = index
	}
}

// Len returns the number of live keys.
func (s *Store) Len() int { return s.entries.Len() }

// Reaped returns the highest index of the tombstones reaped so far.
func (s *Store) Reaped() uint64 { return s.reaped }

// ReapTombstones drops the tombstones of deletions at or below index and
// returns how many it dropped. A key or prefix with nothing left then
// answers with the highest index reaped, which is at least its own
// deletion's, so its index never goes back.
func (s *Store) ReapTombstones(index uint64) int {
	var doomed []Tombstone
	s.tombs.Ascend(func(t Tombstone) bool {
		if t.Index <= index {
			doomed = append(doomed, t)
		}
		return true
	})
	for _, t := range doomed {
		s.tombs.Delete(t)
	}
	s.reaped = max(s.reaped, index)
	return len(doomed)
}

// HasTombstonesUpTo reports whether a tombstone of a deletion at or below
// index exists: whether ReapTombstones(index) would drop anything.
func (s *Store) HasTombstonesUpTo(index uint64) bool {
	found := false
	s.tombs.Ascend(func(t Tombstone) bool {
		found = t.Index <= index
		return !found
	})
	return found
}

// TombstoneLen returns the number of tombstones.
func (s *Store) TombstoneLen() int { return s.tombs.Len() }

// Put writes key at index. With cas set, the write happens only if the
// key's ModifyIndex equals *cas, where 0 means the key must not exist. It
// reports whether it wrote.
func (s *Store) Put(index uint64, key string, value []byte, flags uint64, cas *uint64) bool {
	old, exists := s.entries.Get(&Entry{Key: key})
	if cas != nil {
		switch {
		case *cas == 0 && exists:
			return false
		case *cas != 0 && (!exists || old.ModifyIndex != *cas):
			return false
		}
	}
	e := &Entry{Key: key, Value: value, Flags: flags, CreateIndex: index, ModifyIndex: index}
	if exists {
		e.CreateIndex = old.CreateIndex
		e.LockIndex = old.LockIndex
		e.Session = old.Session
	}
	s.entries.ReplaceOrInsert(e)
	// The new ModifyIndex is above any tombstone of the key, so dropping it
	// keeps every index monotonic.
	s.tombs.Delete(Tombstone{Key: key})
	return true
}

// Delete removes key at index, leaving a tombstone. With cas set it deletes
// only if the key's ModifyIndex is *cas (so 0 fails on a present key).
// Deleting a missing key succeeds, with or without cas, as in Consul.
func (s *Store) Delete(index uint64, key string, cas *uint64) bool {
	old, exists := s.entries.Get(&Entry{Key: key})
	if !exists {
		return true
	}
	if cas != nil && old.ModifyIndex != *cas {
		return false
	}
	s.entries.Delete(old)
	s.tombs.ReplaceOrInsert(Tombstone{Key: key, Index: index})
	return true
}

// DeleteTree removes every key under prefix at index and returns how many
// it removed.
func (s *Store) DeleteTree(index uint64, prefix string) int {
	var doomed []*Entry
	s.ascendPrefix(prefix, func(e *Entry) bool {
		doomed = append(doomed, e)
		return true
	})
	for _, e := range doomed {
		s.entries.Delete(e)
		s.tombs.ReplaceOrInsert(Tombstone{Key: e.Key, Index: index})
	}
	return len(doomed)
}

// Get returns key's entry, or nil, and the index of the answer: the
// entry's ModifyIndex, or the index of the key's deletion, or, with
// neither, the highest index of the tombstones reaped.
func (s *Store) Get(key string) (*Entry, uint64) {
	if e, ok := s.entries.Get(&Entry{Key: key}); ok {
		return e, e.ModifyIndex
	}
	if t, ok := s.tombs.Get(Tombstone{Key: key}); ok {
		return nil, t.Index
	}
	return nil, s.reaped
}

// List returns the entries under prefix in key order and the index of the
// answer: the highest ModifyIndex or deletion index under prefix, or, with
// neither, the highest index of the tombstones reaped.
func (s *Store) List(prefix string) ([]*Entry, uint64) {
	var out []*Entry
	var index uint64
	s.ascendPrefix(prefix, func(e *Entry) bool {
		out = append(out, e)
		index = max(index, e.ModifyIndex)
		return true
	})
	return out, s.orReaped(max(index, s.tombIndex(prefix)))
}

// orReaped returns index, or the highest index reaped when index is 0
// (nothing under a key or prefix).
func (s *Store) orReaped(index uint64) uint64 {
	if index == 0 {
		return s.reaped
	}
	return index
}

// Keys returns the keys under prefix in order; with a separator, the part
// of a key after prefix is cut after the first separator and the result
// listed once, as a directory. The index is that of List.
func (s *Store) Keys(prefix, separator string) ([]string, uint64) {
	var out []string
	var index uint64
	s.ascendPrefix(prefix, func(e *Entry) bool {
		index = max(index, e.ModifyIndex)
		k := e.Key
		if separator != "" {
			if i := strings.Index(k[len(prefix):], separator); i >= 0 {
				k = k[:len(prefix)+i+len(separator)]
			}
		}
		if n := len(out); n == 0 || out[n-1] != k {
			out = append(out, k)
		}
		return true
	})
	return out, s.orReaped(max(index, s.tombIndex(prefix)))
}

// Change is one change under a prefix since an index: a live entry, or a
// tombstone when Entry is nil.
type Change struct {
	Entry     *Entry
	Tombstone Tombstone
}

// Index returns the Raft index of the change.
func (c Change) Index() uint64 {
	if c.Entry != nil {
		return c.Entry.ModifyIndex
	}
	return c.Tombstone.Index
}

// Since returns the entries and then the tombstones under prefix changed
// after index, each in key order, and the highest index among them (index
// itself when there are none).
func (s *Store) Since(prefix string, index uint64) ([]Change, uint64) {
	var out []Change
	top := index
	s.ascendPrefix(prefix, func(e *Entry) bool {
		if e.ModifyIndex > index {
			out = append(out, Change{Entry: e})
			top = max(top, e.ModifyIndex)
		}
		return true
	})
	s.ascendTombs(prefix, func(t Tombstone) bool {
		if t.Index > index {
			out = append(out, Change{Tombstone: t})
			top = max(top, t.Index)
		}
		return true
	})
	return out, top
}

func (s *Store) tombIndex(prefix string) uint64 {
	var index uint64
	s.ascendTombs(prefix, func(t Tombstone) bool {
		index = max(index, t.Index)
		return true
	})
	return index
}

func (s *Store) ascendPrefix(prefix string, fn func(*Entry) bool) {
	s.entries.AscendGreaterOrEqual(&Entry{Key: prefix}, func(e *Entry) bool {
		if !strings.HasPrefix(e.Key, prefix) {
			return false
		}
		return fn(e)
	})
}

func (s *Store) ascendTombs(prefix string, fn func(Tombstone) bool) {
	s.tombs.AscendGreaterOrEqual(Tombstone{Key: prefix}, func(t Tombstone) bool {
		if !strings.HasPrefix(t.Key, prefix) {
			return false
		}
		return fn(t)
	})
}

// Entries calls fn for every live entry in key order until fn returns false.
func (s *Store) Entries(fn func(*Entry) bool) { s.entries.Ascend(fn) }

// Tombstones calls fn for every tombstone in key order until fn returns false.
func (s *Store) Tombstones(fn func(Tombstone) bool) { s.tombs.Ascend(fn) }

// Restore adds an entry or tombstone read from a snapshot.
func (s *Store) restoreEntry(e *Entry)   { s.entries.ReplaceOrInsert(e) }
func (s *Store) restoreTomb(t Tombstone) { s.tombs.ReplaceOrInsert(t) }
