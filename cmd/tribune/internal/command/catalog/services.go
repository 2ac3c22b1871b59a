package catalog

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// servicesCmd is `tribune catalog services`.
type servicesCmd struct {
	io       command.IO
	http     command.HTTPFlags
	node     string
	nodeMeta mapValue
	tags     bool
}

func (c *servicesCmd) Synopsis() string { return "Lists all registered services in a datacenter" }

func (c *servicesCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("services")
	fs.StringVar(&c.node, "node", "",
		"Node `id or name` for which to list services.")
	fs.Var(&c.nodeMeta, "node-meta", "Metadata to "+
		"filter nodes with the given `key=value` pairs. If specified, only "+
		"services running on nodes matching the given metadata will be returned. "+
		"This flag may be specified multiple times to filter on multiple sources "+
		"of metadata.")
	fs.BoolVar(&c.tags, "tags", false, "Display each service's tags as a "+
		"comma-separated list beside each service entry.")
	c.http.Register(fs)
	return fs
}

func (c *servicesCmd) Run(ctx context.Context, _ []string) int {
	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	q := queryOptions(ctx, &c.http, c.nodeMeta)

	var services map[string][]string
	if c.node != "" {
		node, _, err := cl.Catalog().Node(c.node, q)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error listing services for node: %s\n", err)
			return 1
		}
		if node != nil {
			services = make(map[string][]string, len(node.Services))
			for _, s := range node.Services {
				services[s.Service] = append(services[s.Service], s.Tags...)
			}
		}
	} else {
		services, _, err = cl.Catalog().Services(q)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error listing services: %s\n", err)
			return 1
		}
	}

	if len(services) == 0 {
		fmt.Fprintln(c.io.Err, "No services match the given query - try expanding your search.")
		return 0
	}

	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	sort.Strings(names)

	if !c.tags {
		for _, name := range names {
			fmt.Fprintln(c.io.Out, name)
		}
		return 0
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 2, 6, ' ', 0)
	for _, name := range names {
		tags := services[name]
		sort.Strings(tags)
		fmt.Fprintf(tw, "%s\t%s\n", name, strings.Join(tags, ","))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(c.io.Err, "Error flushing tabwriter: %s\n", err)
		return 1
	}
	fmt.Fprintln(c.io.Out, strings.TrimSpace(b.String()))
	return 0
}

func (c *servicesCmd) Help() string {
	return `
Usage: tribune catalog services [options]

  Retrieves the list services registered in a given datacenter. By default, the
  datacenter of the local agent is queried.

  To retrieve the list of services:

      $ tribune catalog services

  To include the services' tags in the output:

      $ tribune catalog services -tags

  To list services which run on a particular node:

      $ tribune catalog services -node=web

  To filter services on node metadata:

      $ tribune catalog services -node-meta="foo=bar"
`
}
