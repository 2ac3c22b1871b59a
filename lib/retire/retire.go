// Package retire sets a server's Raft data and node ID aside after it left
// its cluster, so that it can join again as a new server: the shards'
// leaders remove a server that leaves, and Dragonboat never takes a
// removed replica back under its ID (which derives from the node ID).
package retire

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tribune/tribune/lib/nodeid"
)

// LeftMarker is the file, in an agent's data directory, that says the
// server left its cluster gracefully while other servers were there to
// remove it from the shards (see MarkLeft).
const LeftMarker = "left-cluster"

// MarkLeft records in dataDir that this server has left its cluster. The
// shards' leaders remove a server that leaves, and Dragonboat never takes
// a removed replica back under its ID, so the server cannot come back on
// its Raft data: LeftData sets that data aside when it starts again.
func MarkLeft(dataDir string) error {
	path := filepath.Join(dataDir, LeftMarker)
	if err := os.WriteFile(path, []byte("this server left its cluster; its Raft data is set aside at its next start\n"), 0o640); err != nil {
		return fmt.Errorf("retire: mark left: %w", err)
	}
	return nil
}

// LeftData, when dataDir holds LeftMarker, moves each shard's Raft
// data (dataDir/name for every name) to dataDir/name.left, replacing an
// older one, and removes the node ID, so that the server starts as a new
// one with a new node ID and replica ID and the cluster's leaders add it
// again, as Consul's leader does with a server that rejoins after a leave.
// Nothing is deleted but an earlier retirement. It reports whether it
// retired anything.
func LeftData(dataDir string, names ...string) (bool, error) {
	marker := filepath.Join(dataDir, LeftMarker)
	if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("retire: %w", err)
	}
	for _, name := range names {
		dir := filepath.Join(dataDir, name)
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := os.RemoveAll(dir + ".left"); err != nil {
			return false, fmt.Errorf("retire: retire %s: %w", dir, err)
		}
		if err := os.Rename(dir, dir+".left"); err != nil {
			return false, fmt.Errorf("retire: retire %s: %w", dir, err)
		}
	}
	if err := os.Remove(filepath.Join(dataDir, nodeid.FileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("retire: retire the node ID: %w", err)
	}
	if err := os.Remove(marker); err != nil {
		return false, fmt.Errorf("retire: %w", err)
	}
	return true, nil
}
