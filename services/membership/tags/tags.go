// Package tags names the gossip member tags every Tribune agent carries,
// the same keys and values as Consul's (api/agent.go MemberTag*,
// agent/metadata/server.go), plus Tribune's own "grpc", so that tools that
// read Consul's /v1/agent/members understand Tribune's members.
package tags

import "github.com/hashicorp/serf/serf"

// The tag keys.
const (
	// Role is RoleServer or RoleClient.
	Role = "role"
	// Datacenter is the member's datacenter.
	Datacenter = "dc"
	// ID is the member's node ID (a UUID).
	ID = "id"
	// Build is the agent's version, "<version>:<commit>" in Consul.
	Build = "build"
	// Port is a server's RPC port (Consul's 8300; Tribune's registry
	// shard's Raft port).
	Port = "port"
	// KVPort is Tribune's own tag: a server's KV shard's Raft port.
	KVPort = "kv_port"
	// Expect is a server's -bootstrap-expect, when not zero.
	Expect = "expect"
	// Bootstrap is "1" on a server started in bootstrap mode.
	Bootstrap = "bootstrap"
	// Version, VersionMin and VersionMax are Consul's protocol versions.
	Version    = "vsn"
	VersionMin = "vsn_min"
	VersionMax = "vsn_max"
	// GRPC is Tribune's own tag: the agent's public gRPC address.
	GRPC = "grpc"
	// WANJoinPort is a server's WAN gossip port (Consul's tag): the other
	// servers of its datacenter join it there to put it in the WAN pool.
	WANJoinPort = "wan_join_port"
	// WANJoinAddr is Tribune's own tag: a server's WAN gossip address,
	// only when it is not its LAN address (-advertise-wan).
	WANJoinAddr = "wan_join_addr"
)

// The roles, as Consul names them.
const (
	RoleServer = "consul"
	RoleClient = "node"
)

// The protocol versions Consul's agents advertise (vsn 2, vsn_min 2,
// vsn_max 3).
const (
	ProtocolVersion    = "2"
	ProtocolVersionMin = "2"
	ProtocolVersionMax = "3"
)

// IsServer reports whether m is a server's member.
func IsServer(m serf.Member) bool { return m.Tags[Role] == RoleServer }
