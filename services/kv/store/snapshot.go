package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protodelim"

	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/kv/fsm/v1"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
)

// SnapshotVersion is the snapshot format WriteSnapshot writes.
const SnapshotVersion = 1

// maxRecordSize bounds one snapshot record, as lib/rpc.MaxMessageSize
// bounds the message that wrote it, so a corrupt length cannot ask for
// an absurd allocation.
const maxRecordSize = 256 << 20

// ErrBadSnapshot is returned for a snapshot that cannot be read.
var ErrBadSnapshot = errors.New("store: bad snapshot")

// WriteSnapshot writes s to w: a header, the entries, the tombstones, each
// a length-delimited protobuf message.
func (s *Store) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := &fsmv1.SnapshotHeader{
		Version:      SnapshotVersion,
		AppliedIndex: s.applied,
		Entries:      uint64(s.entries.Len()),
		Tombstones:   uint64(s.tombs.Len()),
		ReapedIndex:  s.reaped,
	}
	if _, err := protodelim.MarshalTo(bw, hdr); err != nil {
		return err
	}
	var err error
	rec := &fsmv1.SnapshotEntry{Pair: &kvv1.KVPair{}}
	s.entries.Ascend(func(e *Entry) bool {
		*rec.Pair = kvv1.KVPair{
			Key: e.Key, Value: e.Value, Flags: e.Flags,
			CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex,
			LockIndex: e.LockIndex, Session: e.Session,
		}
		_, err = protodelim.MarshalTo(bw, rec)
		return err == nil
	})
	if err != nil {
		return err
	}
	tomb := &fsmv1.Tombstone{}
	s.tombs.Ascend(func(t Tombstone) bool {
		tomb.Key, tomb.Index = t.Key, t.Index
		_, err = protodelim.MarshalTo(bw, tomb)
		return err == nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// ReadSnapshot reads a Store written by WriteSnapshot.
func ReadSnapshot(r io.Reader) (*Store, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	// No record is larger than the gRPC message it was written from.
	opts := protodelim.UnmarshalOptions{MaxSize: maxRecordSize}
	hdr := &fsmv1.SnapshotHeader{}
	if err := opts.UnmarshalFrom(br, hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrBadSnapshot, err)
	}
	if hdr.Version != SnapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadSnapshot, hdr.Version, SnapshotVersion)
	}
	s := New()
	s.applied = hdr.AppliedIndex
	s.reaped = hdr.ReapedIndex
	for i := uint64(0); i < hdr.Entries; i++ {
		rec := &fsmv1.SnapshotEntry{}
		if err := opts.UnmarshalFrom(br, rec); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadSnapshot, i, err)
		}
		p := rec.GetPair()
		s.restoreEntry(&Entry{
			Key: p.GetKey(), Value: p.GetValue(), Flags: p.GetFlags(),
			CreateIndex: p.GetCreateIndex(), ModifyIndex: p.GetModifyIndex(),
			LockIndex: p.GetLockIndex(), Session: p.GetSession(),
		})
	}
	for i := uint64(0); i < hdr.Tombstones; i++ {
		t := &fsmv1.Tombstone{}
		if err := opts.UnmarshalFrom(br, t); err != nil {
			return nil, fmt.Errorf("%w: tombstone %d: %w", ErrBadSnapshot, i, err)
		}
		s.restoreTomb(Tombstone{Key: t.GetKey(), Index: t.GetIndex()})
	}
	return s, nil
}
