package catalog

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// nodesCmd is `tribune catalog nodes`.
type nodesCmd struct {
	io       command.IO
	http     command.HTTPFlags
	detailed bool
	near     string
	nodeMeta mapValue
	service  string
	filter   string
}

func (c *nodesCmd) Synopsis() string { return "Lists all nodes in the given datacenter" }

func (c *nodesCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("nodes")
	fs.StringVar(&c.filter, "filter", "", "Filter to use with the request")
	fs.BoolVar(&c.detailed, "detailed", false, "Output detailed information about "+
		"the nodes including their addresses and metadata.")
	fs.StringVar(&c.near, "near", "", "Node name to sort the node list in ascending "+
		"order based on estimated round-trip time from that node. "+
		"Passing \"_agent\" will use this agent's node for sorting.")
	fs.Var(&c.nodeMeta, "node-meta", "Metadata to "+
		"filter nodes with the given `key=value` pairs. This flag may be "+
		"specified multiple times to filter on multiple sources of metadata.")
	fs.StringVar(&c.service, "service", "", "Service `id or name` to filter nodes. "+
		"Only nodes which are providing the given service will be returned.")
	c.http.Register(fs)
	return fs
}

func (c *nodesCmd) Run(ctx context.Context, _ []string) int {
	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	filter, err := loadDataSource(c.filter, c.io.In)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Could not process filter argument: %v\n", err)
		return 1
	}
	q := queryOptions(ctx, &c.http, c.nodeMeta)
	q.Near = c.near
	q.Filter = filter

	var nodes []*api.Node
	if c.service != "" {
		services, _, err := cl.Catalog().Service(c.service, "", q)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error listing nodes for service: %s\n", err)
			return 1
		}
		nodes = make([]*api.Node, len(services))
		for i, s := range services {
			nodes[i] = &api.Node{
				ID:              s.ID,
				Node:            s.Node,
				Address:         s.Address,
				Datacenter:      s.Datacenter,
				TaggedAddresses: s.TaggedAddresses,
				Meta:            s.NodeMeta,
				CreateIndex:     s.CreateIndex,
				ModifyIndex:     s.ModifyIndex,
			}
		}
	} else {
		nodes, _, err = cl.Catalog().Nodes(q)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error listing nodes: %s\n", err)
			return 1
		}
	}

	if len(nodes) == 0 {
		fmt.Fprintln(c.io.Err, "No nodes match the given query - try expanding your search.")
		return 0
	}
	fmt.Fprintln(c.io.Out, formatNodes(nodes, c.detailed))
	return 0
}

// formatNodes renders nodes as the table `consul catalog nodes` prints,
// without a final newline.
func formatNodes(nodes []*api.Node, detailed bool) string {
	rows := make([][]string, 0, len(nodes)+1)
	if detailed {
		rows = append(rows, []string{"Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"})
	} else {
		rows = append(rows, []string{"Node", "ID", "Address", "DC"})
	}
	for _, n := range nodes {
		if detailed {
			rows = append(rows, []string{n.Node, n.ID, n.Address, n.Datacenter,
				mapToKV(n.TaggedAddresses, ", "), mapToKV(n.Meta, ", ")})
			continue
		}
		rows = append(rows, []string{n.Node, shortID(n.ID), n.Address, n.Datacenter})
	}
	return command.Columnize(rows)
}

// shortID is a node ID up to its first "-": a UUID's first group, the
// first 8 hex digits, as Consul shows IDs outside -detailed.
func shortID(id string) string {
	if i := strings.Index(id, "-"); i > 0 {
		return id[:i]
	}
	return id
}

func (c *nodesCmd) Help() string {
	return `
Usage: tribune catalog nodes [options]

  Retrieves the list nodes registered in a given datacenter. By default, the
  datacenter of the local agent is queried.

  To retrieve the list of nodes:

      $ tribune catalog nodes

  To print detailed information including full node IDs, tagged addresses, and
  metadata information:

      $ tribune catalog nodes -detailed

  To list nodes which are running a particular service:

      $ tribune catalog nodes -service=web

  To filter by node metadata:

      $ tribune catalog nodes -node-meta="foo=bar"

  To sort nodes by estimated round-trip time from node-web:

      $ tribune catalog nodes -near=node-web
`
}
