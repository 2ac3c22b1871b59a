package catalog

import (
	"context"
	"flag"
	"fmt"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// datacentersCmd is `tribune catalog datacenters`.
type datacentersCmd struct {
	io   command.IO
	http command.HTTPFlags
}

func (c *datacentersCmd) Synopsis() string { return "Lists all known datacenters" }

func (c *datacentersCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("datacenters")
	c.http.Register(fs)
	return fs
}

func (c *datacentersCmd) Run(ctx context.Context, _ []string) int {
	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	// Catalog().Datacenters takes no query options; the raw query is the
	// same request with the context (and -stale) applied.
	var dcs []string
	if _, err := cl.Raw().Query("/v1/catalog/datacenters", &dcs, queryOptions(ctx, &c.http, nil)); err != nil {
		fmt.Fprintf(c.io.Err, "Error listing datacenters: %s\n", err)
		return 1
	}
	for _, dc := range dcs {
		fmt.Fprintln(c.io.Out, dc)
	}
	return 0
}

func (c *datacentersCmd) Help() string {
	return `
Usage: tribune catalog datacenters [options]

  Retrieves the list of all known datacenters. This datacenters are sorted in
  ascending order based on the estimated median round trip time from the servers
  in this datacenter to the servers in the other datacenters.

  To retrieve the list of datacenters:

      $ tribune catalog datacenters
`
}
