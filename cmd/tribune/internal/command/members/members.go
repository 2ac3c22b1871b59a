// Package members implements `tribune members`, Consul's `consul members`:
// it lists the members of the agent's LAN (or, with -wan, WAN) gossip pool,
// with the same flags and output, over the agent's Consul-compatible HTTP
// API.
package members

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// The member tags Consul's agents gossip and `consul members` reads.
const (
	tagRole       = api.MemberTagKeyRole       // "role"
	tagDatacenter = api.MemberTagKeyDatacenter // "dc"
	tagSegment    = api.MemberTagKeySegment    // "segment"
	tagPartition  = api.MemberTagKeyPartition  // "ap"
	tagBuild      = "build"
	tagProtocol   = "vsn"

	roleServer = api.MemberTagValueRoleServer // "consul"
	roleClient = api.MemberTagValueRoleClient // "node"
)

type cmd struct {
	io       command.IO
	http     command.HTTPFlags
	detailed bool
	wan      bool
	status   string
}

// New returns the members command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Lists the members of a Tribune cluster" }

func (c *cmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("members", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&c.detailed, "detailed", false,
		"Provides detailed information about nodes.")
	fs.BoolVar(&c.wan, "wan", false,
		"If the agent is in server mode, this can be used to return the other "+
			"peers in the WAN pool.")
	fs.StringVar(&c.status, "status", ".*",
		"If provided, output is filtered to only nodes matching the regular "+
			"expression for status.")
	c.http.Register(fs)
	return fs
}

func (c *cmd) Run(ctx context.Context, args []string) int {
	fs := c.flags()
	if code, done := command.Parse(fs, c.io, help, args); done {
		return code
	}
	if n := fs.NArg(); n > 0 {
		fmt.Fprintf(c.io.Err, "Too many arguments (expected 0, got %d)\n", n)
		return 1
	}

	statusRe, err := regexp.Compile(c.status)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Failed to compile status regexp: %v\n", err)
		return 1
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	members, err := cl.Agent().MembersOpts(api.MembersOpts{Segment: api.AllSegments, WAN: c.wan})
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error retrieving members: %s\n", err)
		return 1
	}

	kept := members[:0]
	for _, m := range members {
		if m == nil {
			continue
		}
		if statusRe.MatchString(statusString(m.Status)) {
			kept = append(kept, m)
		}
	}
	// Consul exits 2, printing nothing, when no member matches.
	if len(kept) == 0 {
		return 2
	}
	sortMembers(kept)

	var rows [][]string
	if c.detailed {
		rows = detailedRows(kept)
	} else {
		rows = standardRows(kept)
	}
	fmt.Fprintln(c.io.Out, command.Columnize(rows))
	return 0
}

// statusString names a serf member status as serf.MemberStatus.String
// does (which panics on any other value, where this says "unknown"):
// AgentMember.Status holds a serf.MemberStatus.
func statusString(s int) string {
	switch s {
	case 0:
		return "none"
	case 1:
		return "alive"
	case 2:
		return "leaving"
	case 3:
		return "left"
	case 4:
		return "failed"
	default:
		return "unknown"
	}
}

// sortMembers orders members as Consul's ByMemberNamePartitionAndSegment
// does: servers first, then the default partition's members, by segment,
// then by partition, then by name.
func sortMembers(members []*api.AgentMember) {
	sort.SliceStable(members, func(i, j int) bool { return less(members[i], members[j]) })
}

func less(a, b *api.AgentMember) bool {
	ra, rb := a.Tags[tagRole] == roleServer, b.Tags[tagRole] == roleServer
	if ra != rb {
		return ra
	}
	pa, pb := partition(a), partition(b)
	if da, db := isDefault(pa), isDefault(pb); da != db {
		return da
	}
	if sa, sb := segment(a), segment(b); sa != sb {
		return sa < sb
	}
	if pa != pb {
		return pa < pb
	}
	return a.Name < b.Name
}

func isDefault(partition string) bool { return partition == "" || partition == "default" }

// partition is the member's admin partition, "default" when it has none,
// as Consul's CLI sets it before sorting.
func partition(m *api.AgentMember) string {
	if p := m.Tags[tagPartition]; p != "" {
		return p
	}
	return "default"
}

// segment is the member's network segment as Consul's CLI shows it: "<all>"
// for the default partition's servers, "<default>" when it has none.
func segment(m *api.AgentMember) string {
	if !isDefault(partition(m)) {
		return ""
	}
	if m.Tags[tagRole] == roleServer {
		return "<all>"
	}
	if s := m.Tags[tagSegment]; s != "" {
		return s
	}
	return "<default>"
}

// address is the member's gossip address, host:port ([host]:port for IPv6).
func address(m *api.AgentMember) string {
	return (&net.TCPAddr{IP: net.ParseIP(m.Addr), Port: int(m.Port)}).String()
}

// standardRows are the table Consul prints by default, without its
// Enterprise-only Partition and Segment columns.
func standardRows(members []*api.AgentMember) [][]string {
	rows := [][]string{{"Node", "Address", "Status", "Type", "Build", "Protocol", "DC"}}
	for _, m := range members {
		build := m.Tags[tagBuild]
		if build == "" {
			build = "< 0.3"
		} else if i := strings.Index(build, ":"); i != -1 {
			build = build[:i]
		}
		row := []string{m.Name, address(m), statusString(m.Status)}
		switch m.Tags[tagRole] {
		case roleServer:
			row = append(row, "server", build, m.Tags[tagProtocol], m.Tags[tagDatacenter])
		case roleClient:
			row = append(row, "client", build, m.Tags[tagProtocol], m.Tags[tagDatacenter])
		default:
			row = append(row, "unknown", "", "", "")
		}
		rows = append(rows, row)
	}
	return rows
}

// detailedRows are the table -detailed prints: every tag, as key=value
// sorted by key and joined by commas.
func detailedRows(members []*api.AgentMember) [][]string {
	rows := [][]string{{"Node", "Address", "Status", "Tags"}}
	for _, m := range members {
		keys := make([]string, 0, len(m.Tags))
		for k := range m.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + m.Tags[k]
		}
		rows = append(rows, []string{m.Name, address(m), statusString(m.Status), strings.Join(pairs, ",")})
	}
	return rows
}

const help = `
Usage: tribune members [options]

  Outputs the members of a running agent's gossip pool: by default the
  LAN pool of its datacenter, with -wan the servers of the WAN pool.
  Servers are listed first, then clients, each by name. It exits 2,
  printing nothing, when no member's status matches -status.

      $ tribune members
      $ tribune members -detailed
      $ tribune members -status='alive|leaving'
`
