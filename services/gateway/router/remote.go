package router

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"

	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/rpc"
	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
)

// remotes finds a server of another datacenter through the WAN pool and
// keeps one connection to each server it has used. A call for another
// datacenter goes to that server's public gRPC port (the "grpc" tag of its
// WAN member), whose gateway serves it as local.
//
// Its methods are safe for concurrent use.
type remotes struct {
	local   string
	members membershipv1.MembershipServiceClient // nil: no WAN pool
	// viaServer: this is a client agent, which is in no WAN pool; a call
	// for another datacenter goes to a server of its own, which forwards
	// it, as Consul's clients do.
	viaServer bool

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by address
}

func newRemotes(local string, members membershipv1.MembershipServiceClient) *remotes {
	return &remotes{local: local, members: members, conns: map[string]*grpc.ClientConn{}}
}

// conn returns a connection to a server of dc (for a client agent, to a
// server of its own datacenter, which forwards the call), or nil for the
// local datacenter, or ErrNoPathToDatacenter when no live server of dc is
// known.
func (r *remotes) conn(ctx context.Context, dc string) (grpc.ClientConnInterface, error) {
	if dc == "" || dc == r.local {
		return nil, nil
	}
	if r.viaServer {
		return r.server(ctx)
	}
	return r.pick(ctx, true, dc, ErrNoPathToDatacenter)
}

// server returns a connection to a live server of the local datacenter,
// found in the LAN pool: how a client agent, which holds no data, reaches
// the catalog and the KV store. ErrNoServers when none is known.
func (r *remotes) server(ctx context.Context) (grpc.ClientConnInterface, error) {
	return r.pick(ctx, false, r.local, ErrNoServers)
}

// pick connects to a random live server of dc in the WAN or LAN pool, or
// fails with none.
func (r *remotes) pick(ctx context.Context, wan bool, dc string, none error) (grpc.ClientConnInterface, error) {
	if r.members == nil {
		return nil, none
	}
	resp, err := r.members.ListMembers(ctx, &membershipv1.ListMembersRequest{Wan: wan})
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, m := range resp.Members {
		if m.Status != membershipv1.MemberStatus_MEMBER_STATUS_ALIVE || m.Tags["dc"] != dc || m.Tags["role"] != "consul" {
			continue
		}
		if addr := publicAddress(m); addr != "" {
			addrs = append(addrs, addr)
		}
	}
	if len(addrs) == 0 {
		return nil, none
	}
	addr := addrs[rand.IntN(len(addrs))]
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.conns[addr]; ok {
		return c, nil
	}
	c, err := rpc.Dial(addr)
	if err != nil {
		return nil, err
	}
	r.conns[addr] = c
	return c, nil
}

// publicAddress is where a member serves its public gRPC API: its grpc
// tag, with the member's gossip address when the tag's host is a wildcard.
func publicAddress(m *membershipv1.Member) string {
	host, port, err := net.SplitHostPort(m.Tags["grpc"])
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = m.Addr
	}
	return net.JoinHostPort(host, port)
}

// Close closes the connections to other datacenters.
func (r *remotes) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for addr, c := range r.conns {
		c.Close()
		delete(r.conns, addr)
	}
}
