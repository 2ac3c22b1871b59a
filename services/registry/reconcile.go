package registry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/registry/server"
)

// Gossip health, as Consul's leader writes it.
const (
	serfHealthName     = "Serf Health Status"
	serfAliveOutput    = "Agent alive and reachable"
	serfCriticalOutput = "Agent not live or unreachable"
)

// leadership says whether this replica leads the shard.
type leadership interface {
	Leader() (uint64, bool)
	ReplicaID() uint64
}

// reconciler makes the catalog follow the LAN gossip pool while this
// server leads the registry shard, as Consul's leader does: every member
// of the datacenter has a serfHealth check, passing while gossip sees it
// alive and critical once it is failed; a member that leaves, or that is
// reaped after the reconnect timeout, is deregistered.
type reconciler struct {
	datacenter string
	members    membershipv1.MembershipServiceClient
	srv        *server.Server
	raft       leadership
	log        *slog.Logger
	// every is how often leadership is checked.
	every time.Duration
}

// run reconciles whenever this replica leads, until ctx ends.
func (r *reconciler) run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		if id, ok := r.raft.Leader(); ok && id == r.raft.ReplicaID() {
			if err := r.follow(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("reconciling gossip into the catalog", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// follow applies the pool's members and then its events, until the stream
// ends or this replica stops leading.
func (r *reconciler) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // stop following when leadership goes
		t := time.NewTicker(r.every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if id, ok := r.raft.Leader(); !ok || id != r.raft.ReplicaID() {
					cancel()
					return
				}
			}
		}
	}()
	stream, err := r.members.WatchMembers(ctx, &membershipv1.WatchMembersRequest{})
	if err != nil {
		return err
	}
	go func() { // and, now and then, reap what the events missed
		t := time.NewTicker(reapEvery * r.every)
		defer t.Stop()
		for {
			if err := r.reap(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("reaping nodes gossip no longer knows", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for _, ev := range resp.Events {
			if err := r.apply(ctx, ev); err != nil {
				return err
			}
		}
	}
}

// reapEvery is how many leadership checks pass between two reaps.
const reapEvery = 5

// reap deregisters, as Consul's leader does, the nodes that have a
// serfHealth check but that gossip no longer knows, and every node whose
// member has left the pool. A member event can be missed: a leave racing
// the agent's own last sync re-registers its node, without serfHealth,
// after the leave was applied. Nodes registered through the catalog API
// have no serfHealth check and no member, and are left alone.
func (r *reconciler) reap(ctx context.Context) error {
	// The catalog first: a member that joins after this read is not reaped.
	checks, err := r.srv.ChecksInState(ctx, &registryv1.ChecksInStateRequest{State: "any"})
	if err != nil {
		return err
	}
	nodes, err := r.srv.ListNodes(ctx, &registryv1.ListNodesRequest{})
	if err != nil {
		return err
	}
	resp, err := r.members.ListMembers(ctx, &membershipv1.ListMembersRequest{})
	if err != nil {
		return err
	}
	known, left := map[string]bool{}, map[string]bool{}
	for _, m := range resp.Members {
		if m.Tags["dc"] != r.datacenter {
			continue
		}
		known[m.Name] = true
		left[m.Name] = m.Status == membershipv1.MemberStatus_MEMBER_STATUS_LEFT
	}
	doomed := map[string]bool{}
	for _, c := range checks.Checks {
		if c.CheckId == SerfHealthID && (!known[c.Node] || left[c.Node]) {
			doomed[c.Node] = true
		}
	}
	for _, n := range nodes.Nodes {
		if left[n.Node] {
			doomed[n.Node] = true
		}
	}
	for node := range doomed {
		if _, err := r.srv.Deregister(ctx, &registryv1.DeregisterRequest{Node: node}); err != nil {
			return err
		}
		r.log.Info("deregistered a node that has left gossip", "node", node)
	}
	return nil
}

// apply writes one member's state into the catalog.
func (r *reconciler) apply(ctx context.Context, ev *membershipv1.MemberEvent) error {
	m := ev.GetMember()
	if m == nil || m.Tags["dc"] != r.datacenter {
		return nil
	}
	switch {
	case ev.Type == membershipv1.MemberEvent_TYPE_REAP, ev.Type == membershipv1.MemberEvent_TYPE_LEAVE,
		m.Status == membershipv1.MemberStatus_MEMBER_STATUS_LEFT:
		_, err := r.srv.Deregister(ctx, &registryv1.DeregisterRequest{Node: m.Name})
		return err
	case m.Status == membershipv1.MemberStatus_MEMBER_STATUS_ALIVE:
		return r.serfHealth(ctx, m, "passing", serfAliveOutput)
	case m.Status == membershipv1.MemberStatus_MEMBER_STATUS_FAILED:
		return r.serfHealth(ctx, m, "critical", serfCriticalOutput)
	}
	return nil
}

// serfHealth sets a member's serfHealth check, registering its node from
// gossip if the catalog does not have it yet (the agent's own sync fills
// in the rest).
func (r *reconciler) serfHealth(ctx context.Context, m *membershipv1.Member, st, output string) error {
	check := &registryv1.Check{CheckId: SerfHealthID, Name: serfHealthName, Status: st, Output: output}
	node := &registryv1.Node{Node: m.Name, Address: m.Addr, Id: m.Tags["id"], Datacenter: r.datacenter}
	_, err := r.srv.Register(ctx, &registryv1.RegisterRequest{Node: node, Checks: []*registryv1.Check{check}, SkipNodeUpdate: true})
	if status.Code(err) == codes.FailedPrecondition { // not in the catalog yet
		_, err = r.srv.Register(ctx, &registryv1.RegisterRequest{Node: node, Checks: []*registryv1.Check{check}})
	}
	return err
}
