// Package operator implements `tribune operator raft list-peers|remove-peer`,
// Consul's `consul operator raft` commands, with the same flags and
// output, over the agent's Consul-compatible HTTP API.
package operator

import (
	"context"
	"flag"
	"fmt"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// New returns the operator command.
func New(io command.IO) command.Command {
	return &command.Family{
		IO: io, Name: "operator", Summary: "Provides cluster-level tools for Tribune operators",
		Intro: operatorIntro,
		Subcommands: map[string]command.Subcommand{
			"raft": &raftCmd{family: &command.Family{
				IO: io, Name: "operator raft", Summary: raftSynopsis, Intro: raftIntro, NoArgs: true,
				Subcommands: map[string]command.Subcommand{
					"list-peers":  &listPeersCmd{io: io},
					"remove-peer": &removePeerCmd{io: io},
				},
			}},
		},
	}
}

const operatorIntro = `
  Provides cluster-level tools for Tribune operators, such as interacting
  with the Raft subsystem. These commands change the cluster's servers:
  use them with care.
`

const raftSynopsis = "Provides cluster-level tools for Tribune operators"

const raftIntro = `
  The Raft operator command is used to interact with the servers' Raft
  subsystem. The command can be used to verify Raft peers or in rare cases
  to recover quorum by removing invalid peers. Tribune's servers run two
  Raft shards, the catalog's and the KV store's: list-peers shows the
  catalog's, as Consul shows its one, and remove-peer removes a server from
  both.
`

// raftCmd is `tribune operator raft`: a family of its own under operator.
type raftCmd struct {
	family *command.Family
}

func (c *raftCmd) Flags() *flag.FlagSet { return command.NewFlagSet("raft") }

func (c *raftCmd) Run(ctx context.Context, args []string) int { return c.family.Run(ctx, args) }

func (c *raftCmd) Synopsis() string { return "Provides cluster-level tools for Tribune operators" }

func (c *raftCmd) Help() string {
	return "\nUsage: tribune operator raft <subcommand> [options]\n" + raftIntro
}

// listPeersCmd is `tribune operator raft list-peers`.
type listPeersCmd struct {
	io   command.IO
	http command.HTTPFlags
}

func (c *listPeersCmd) Synopsis() string { return "Display the current Raft peer configuration" }

func (c *listPeersCmd) Help() string {
	return `
Usage: tribune operator raft list-peers [options]

  Displays the current Raft peer configuration of the catalog's shard: each
  server's node name, ID (its node ID), server address, state (leader or
  follower), whether it votes, and its Raft protocol version. With -stale
  any server answers, which helps when the cluster has no leader.
`
}

func (c *listPeersCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("list-peers")
	c.http.Register(fs)
	return fs
}

func (c *listPeersCmd) Run(ctx context.Context, _ []string) int {
	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error initializing client: %s\n", err)
		return 1
	}
	out, err := listPeers(ctx, cl, c.http.Stale)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error getting peers: %v\n", err)
		return 1
	}
	fmt.Fprintln(c.io.Out, out)
	return 0
}

// listPeers returns Consul's table of the Raft configuration.
func listPeers(ctx context.Context, cl *api.Client, stale bool) (string, error) {
	q := (&api.QueryOptions{AllowStale: stale}).WithContext(ctx)
	reply, err := cl.Operator().RaftGetConfiguration(q)
	if err != nil {
		return "", fmt.Errorf("Failed to retrieve raft configuration: %v", err)
	}
	rows := [][]string{{"Node", "ID", "Address", "State", "Voter", "RaftProtocol"}}
	for _, s := range reply.Servers {
		if s == nil {
			continue
		}
		protocol := s.ProtocolVersion
		if protocol == "" {
			protocol = "<=1"
		}
		state := "follower"
		if s.Leader {
			state = "leader"
		}
		rows = append(rows, []string{s.Node, s.ID, s.Address, state, fmt.Sprint(s.Voter), protocol})
	}
	return command.Columnize(rows), nil
}

// removePeerCmd is `tribune operator raft remove-peer`.
type removePeerCmd struct {
	io      command.IO
	http    command.HTTPFlags
	address string
	id      string
}

func (c *removePeerCmd) Synopsis() string {
	return "Remove a Tribune server from the Raft configuration"
}

func (c *removePeerCmd) Help() string {
	return `
Usage: tribune operator raft remove-peer [options]

  Remove the Tribune server with the given -id (its node ID, as list-peers
  shows it) or -address (its server address) from the Raft configuration
  of both shards.

  There are rare cases where a peer may be left behind in the Raft quorum
  even though the server is no longer present and known to the cluster.
  This command can be used to remove the failed server so that it no
  longer affects the Raft quorum. If the server still shows in the output
  of "tribune members", it is preferable to clean up by running
  "tribune force-leave" instead. A removed server cannot rejoin with its
  old data directory.
`
}

func (c *removePeerCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("remove-peer")
	fs.StringVar(&c.address, "address", "", "The address to remove from the Raft configuration.")
	fs.StringVar(&c.id, "id", "", "The ID to remove from the Raft configuration.")
	c.http.Register(fs)
	return fs
}

func (c *removePeerCmd) Run(ctx context.Context, _ []string) int {
	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error initializing client: %s\n", err)
		return 1
	}
	if err := removePeer(ctx, cl, c.address, c.id); err != nil {
		fmt.Fprintf(c.io.Err, "Error removing peer: %v\n", err)
		return 1
	}
	if c.address != "" {
		fmt.Fprintf(c.io.Out, "Removed peer with address %q\n", c.address)
	} else {
		fmt.Fprintf(c.io.Out, "Removed peer with id %q\n", c.id)
	}
	return 0
}

func removePeer(ctx context.Context, cl *api.Client, address, id string) error {
	switch {
	case address == "" && id == "":
		return fmt.Errorf("an address or id is required for the peer to remove")
	case address != "" && id != "":
		return fmt.Errorf("cannot give both an address and id")
	}
	w := (&api.WriteOptions{}).WithContext(ctx)
	if address != "" {
		return cl.Operator().RaftRemovePeerByAddress(address, w)
	}
	return cl.Operator().RaftRemovePeerByID(id, w)
}
