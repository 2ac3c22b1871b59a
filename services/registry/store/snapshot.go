package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/registry/fsm/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// SnapshotVersion is the format WriteSnapshot writes.
const SnapshotVersion = 1

// ErrBadSnapshot is returned for a snapshot that cannot be read.
var ErrBadSnapshot = errors.New("store: bad snapshot")

// maxRecordSize bounds one snapshot record, so that a corrupt length is an
// ErrBadSnapshot rather than a panic or a huge allocation. Every record
// came in one gRPC message, at most lib/rpc.MaxMessageSize (256 MiB).
const maxRecordSize = 256 << 20

func (s *Store) counts() (nodes, services, checks int) {
	for _, m := range s.services {
		services += len(m)
	}
	for _, m := range s.checks {
		checks += len(m)
	}
	return len(s.nodes), services, checks
}

// WriteSnapshot writes s to w: a header, then nodes, services, checks and
// indexes, each a length-delimited protobuf message.
func (s *Store) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	n, v, c := s.counts()
	hdr := &fsmv1.SnapshotHeader{
		Version: SnapshotVersion, AppliedIndex: s.applied,
		Nodes: uint64(n), Services: uint64(v), Checks: uint64(c), Indexes: uint64(len(s.indexes)),
	}
	var err error
	put := func(m proto.Message) {
		if err == nil {
			_, err = protodelim.MarshalTo(bw, m)
		}
	}
	put(hdr)
	for _, node := range s.nodes {
		put(node)
	}
	for name, m := range s.services {
		for _, svc := range m {
			put(&fsmv1.SnapshotService{Node: name, Service: svc})
		}
	}
	for _, m := range s.checks {
		for _, chk := range m {
			put(chk)
		}
	}
	for k, idx := range s.indexes {
		put(&fsmv1.SnapshotIndex{Key: k, Index: idx})
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// ReadSnapshot reads a Store written by WriteSnapshot.
func ReadSnapshot(r io.Reader) (*Store, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	opts := protodelim.UnmarshalOptions{MaxSize: maxRecordSize}
	read := func(what string, i uint64, m proto.Message) error {
		if err := opts.UnmarshalFrom(br, m); err != nil {
			return fmt.Errorf("%w: %s %d: %w", ErrBadSnapshot, what, i, err)
		}
		return nil
	}
	hdr := &fsmv1.SnapshotHeader{}
	if err := read("header", 0, hdr); err != nil {
		return nil, err
	}
	if hdr.Version != SnapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadSnapshot, hdr.Version, SnapshotVersion)
	}
	s := New()
	s.applied = hdr.AppliedIndex
	for i := range hdr.Nodes {
		n := &registryv1.Node{}
		if err := read("node", i, n); err != nil {
			return nil, err
		}
		s.nodes[n.Node] = n
	}
	for i := range hdr.Services {
		rec := &fsmv1.SnapshotService{}
		if err := read("service", i, rec); err != nil {
			return nil, err
		}
		if s.services[rec.Node] == nil {
			s.services[rec.Node] = map[string]*registryv1.Service{}
		}
		s.services[rec.Node][rec.Service.GetId()] = rec.Service
		s.indexInstance(rec.Service.GetService(), instanceRef{rec.Node, rec.Service.GetId()})
	}
	for i := range hdr.Checks {
		c := &registryv1.Check{}
		if err := read("check", i, c); err != nil {
			return nil, err
		}
		if s.checks[c.Node] == nil {
			s.checks[c.Node] = map[string]*registryv1.Check{}
		}
		s.checks[c.Node][c.CheckId] = c
	}
	for i := range hdr.Indexes {
		rec := &fsmv1.SnapshotIndex{}
		if err := read("index", i, rec); err != nil {
			return nil, err
		}
		s.indexes[rec.Key] = rec.Index
	}
	return s, nil
}
