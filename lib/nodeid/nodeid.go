// Package nodeid gives each agent a stable identity: a UUID persisted in its
// data directory, and the Raft replica ID derived from it, so that a server
// keeps its replica ID across restarts and every server computes the same
// ID for a peer from the peer's node ID alone.
package nodeid

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// FileName is the file in the data directory that holds the node ID.
const FileName = "node-id"

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Validate reports whether id is a UUID in Consul's form.
func Validate(id string) error {
	if !uuidRE.MatchString(id) {
		return fmt.Errorf("node ID %q is not a lower-case UUID", id)
	}
	return nil
}

// LoadOrCreate returns the node ID stored in dataDir, creating and storing
// a random one the first time.
func LoadOrCreate(dataDir string) (string, error) {
	path := filepath.Join(dataDir, FileName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if err := Validate(id); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		return id, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	id := New()
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o640); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return id, nil
}

// New returns a random UUID (version 4).
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ReplicaID derives a Raft replica ID from a node ID: FNV-64a of the ID,
// never 0 (Dragonboat reserves it).
func ReplicaID(nodeID string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(nodeID))
	if id := h.Sum64(); id != 0 {
		return id
	}
	return 1
}
