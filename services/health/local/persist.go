package local

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

// Each API definition persists in a file of its own, as Consul's agent
// does, so that a change writes only the files of what changed rather
// than the whole state: registering n services costs O(n), not O(n²).
const (
	servicesDir = "services"
	checksDir   = "checks"
	// legacyFile held every API definition before per-item files; Load
	// migrates it.
	legacyFile = "local-state.json"
	tmpSuffix  = ".tmp"
)

// itemFile names an item's file: a hash of its ID, which may hold any
// character, including those a file name cannot.
func itemFile(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// touchService records that a service's file may be out of date.
// Called with s.mu held.
func (s *State) touchService(id string) {
	if s.dir != "" {
		s.pendingServices[id] = true
	}
}

// touchCheck records that a check's file may be out of date. Called with
// s.mu held.
func (s *State) touchCheck(id string) {
	if s.dir != "" {
		s.pendingChecks[id] = true
	}
}

// persist brings the files of the pending services and checks up to
// date: it writes those from the API and removes the others' (gone, or
// now from a configuration file). What fails stays pending, so the next
// change retries it and the files catch up, as they did when every
// change rewrote them all. Called with s.mu held.
func (s *State) persist() error {
	if s.dir == "" || len(s.pendingServices)+len(s.pendingChecks) == 0 {
		return nil
	}
	svcErr := flush(filepath.Join(s.dir, servicesDir), "service", s.pendingServices, func(id string) proto.Message {
		if v, ok := s.services[id]; ok && v.Source == FromAPI {
			return v.Def
		}
		return nil
	})
	checkErr := flush(filepath.Join(s.dir, checksDir), "check", s.pendingChecks, func(id string) proto.Message {
		if c, ok := s.checks[id]; ok && c.Source == FromAPI {
			return c.Def
		}
		return nil
	})
	return errors.Join(svcErr, checkErr)
}

// flush syncs the files in dir of the pending IDs with their current
// definitions (nil: no file), and then dir itself, so that the renames
// and removals survive a crash; it takes from pending the IDs done.
func flush(dir, kind string, pending map[string]bool, current func(id string) proto.Message) error {
	if len(pending) == 0 {
		return nil
	}
	if err := ensureDir(dir); err != nil {
		return fmt.Errorf("persist %ss: %w", kind, err)
	}
	var errs []error
	var done []string
	changed := false
	for id := range pending {
		c, err := syncItem(dir, id, current(id))
		if err != nil {
			errs = append(errs, fmt.Errorf("persist %s %q: %w", kind, id, err))
			continue
		}
		changed = changed || c
		done = append(done, id)
	}
	if changed {
		if err := syncDir(dir); err != nil {
			return errors.Join(append(errs, fmt.Errorf("persist %ss: %w", kind, err))...)
		}
	}
	for _, id := range done {
		delete(pending, id)
	}
	return errors.Join(errs...)
}

// syncItem writes def to the file of id in dir, or removes that file
// when def is nil; it reports whether dir changed.
func syncItem(dir, id string, def proto.Message) (bool, error) {
	name := filepath.Join(dir, itemFile(id))
	if def == nil {
		err := os.Remove(name)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(def)
	if err != nil {
		return false, err
	}
	return true, writeAtomic(name, append(b, '\n'))
}

// writeAtomic replaces name with b so that a crash leaves the old content
// or the new, never a part: it writes and fsyncs a temporary file in the
// same directory and renames it over name. The caller syncs the
// directory.
func writeAtomic(name string, b []byte) error {
	tmp := name + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// syncDir fsyncs a directory, which makes the renames, creations and
// removals of its entries durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ensureDir creates dir if it is missing, and syncs its parent so that
// the new entry survives a crash as well.
func ensureDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// Load reads the persisted API definitions, if any, into s. A
// local-state.json that an earlier version wrote, holding them all, is
// migrated to per-item files and removed.
func (s *State) Load() error {
	if s.dir == "" {
		return nil
	}
	services, err := loadDir(filepath.Join(s.dir, servicesDir), func() *agentv1.ServiceDefinition { return &agentv1.ServiceDefinition{} })
	if err != nil {
		return err
	}
	checks, err := loadDir(filepath.Join(s.dir, checksDir), func() *agentv1.CheckDefinition { return &agentv1.CheckDefinition{} })
	if err != nil {
		return err
	}
	legacy := filepath.Join(s.dir, legacyFile)
	old, err := readLegacy(legacy)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old != nil {
		// Only an earlier version writes the file, so it is newer than any
		// item files (left by an agent that was downgraded and upgraded
		// again): it replaces them, and the files of what it lacks go.
		s.touchAll(services, checks)
		services, checks = old.services, old.checks
		s.touchAll(services, checks)
	}
	for _, def := range services {
		s.services[def.Id] = &Service{Def: def, Source: FromAPI}
	}
	for _, def := range checks {
		s.checks[def.CheckId] = &Check{Def: def, Source: FromAPI, Status: initialStatus(def)}
	}
	s.signal()
	if old != nil {
		return s.migrated(legacy)
	}
	return nil
}

// touchAll records that the files of these definitions may be out of
// date. Called with s.mu held.
func (s *State) touchAll(services []*agentv1.ServiceDefinition, checks []*agentv1.CheckDefinition) {
	for _, def := range services {
		s.touchService(def.Id)
	}
	for _, def := range checks {
		s.touchCheck(def.CheckId)
	}
}

// migrated writes the item files of the definitions read from the legacy
// file, and only then removes it, so that a crash in between loses
// nothing. Called with s.mu held.
func (s *State) migrated(legacy string) error {
	if err := s.persist(); err != nil {
		return fmt.Errorf("migrate %s: %w", legacy, err)
	}
	for _, name := range []string{legacy, legacy + tmpSuffix} {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("migrate %s: %w", legacy, err)
		}
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("migrate %s: %w", legacy, err)
	}
	return nil
}

// loadDir reads the definitions in dir's files, skipping the temporary
// files a crash may leave; a missing dir holds none. A file that does
// not parse fails it, named: the agent must not start without a
// registration it was given.
func loadDir[T proto.Message](dir string, newDef func() T) ([]T, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var defs []T
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), tmpSuffix) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		def := newDef()
		if err := protojson.Unmarshal(b, def); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defs = append(defs, def)
	}
	return defs, nil
}

// legacyState is what local-state.json held.
type legacyState struct {
	services []*agentv1.ServiceDefinition
	checks   []*agentv1.CheckDefinition
}

// persisted is the legacy file's format: API definitions, as protobuf
// JSON.
type persisted struct {
	Services []json.RawMessage `json:"services"`
	Checks   []json.RawMessage `json:"checks"`
}

// readLegacy reads the legacy file, or returns nil if there is none.
func readLegacy(file string) (*legacyState, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	out := &legacyState{}
	for _, raw := range p.Services {
		def := &agentv1.ServiceDefinition{}
		if err := protojson.Unmarshal(raw, def); err != nil {
			return nil, fmt.Errorf("%s: service: %w", file, err)
		}
		out.services = append(out.services, def)
	}
	for _, raw := range p.Checks {
		def := &agentv1.CheckDefinition{}
		if err := protojson.Unmarshal(raw, def); err != nil {
			return nil, fmt.Errorf("%s: check: %w", file, err)
		}
		out.checks = append(out.checks, def)
	}
	return out, nil
}
