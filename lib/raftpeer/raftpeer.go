// Package raftpeer names a server's Raft peer the way Consul's operator
// API does (/v1/operator/raft/peer): by the server's node ID, or, for a
// member that gossip does not know, by its replica ID in decimal; and it
// holds Consul's answers to a removal that names no peer, or two. The
// gateway and the shard services share it without the gateway depending
// on the Raft library.
package raftpeer

import (
	"strconv"

	"github.com/tribune/tribune/lib/nodeid"
)

// Consul's answers to a removal that names no peer, or two.
const (
	MsgNeither = "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove"
	MsgBoth    = "Must specify only one of ?id or ?address"
)

// ReplicaID returns the replica ID a peer's ID stands for: a node ID (a
// UUID) or a replica ID in decimal, as RaftConfiguration reports a member
// gossip does not know.
func ReplicaID(id string) (uint64, bool) {
	if nodeid.Validate(id) == nil {
		return nodeid.ReplicaID(id), true
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil && n != 0
}
