package services

import (
	"context"
	"flag"
	"fmt"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// deregisterCmd is `tribune services deregister`.
type deregisterCmd struct {
	io   command.IO
	http command.HTTPFlags
	id   string
}

func (c *deregisterCmd) Synopsis() string { return "Deregister services with the local agent" }

func (c *deregisterCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("deregister")
	fs.StringVar(&c.id, "id", "",
		"ID to delete. This must not be set if arguments are given.")
	c.http.Register(fs)
	return fs
}

func (c *deregisterCmd) Run(ctx context.Context, args []string) int {
	switch {
	case len(args) == 0 && c.id == "":
		fmt.Fprintln(c.io.Err, "Service deregistration requires at least one argument or -id.")
		return 1
	case len(args) > 0 && c.id != "":
		fmt.Fprintln(c.io.Err, "Service deregistration requires arguments or -id, not both.")
		return 1
	}

	ids := []string{c.id}
	if len(args) > 0 {
		// Only the IDs and names matter here: fields Tribune does not
		// support were reported when the services were registered.
		defs, err := servicesFromFiles(args, nil)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error: %s\n", err)
			return 1
		}
		ids = ids[:0]
		for _, d := range defs {
			// A service's ID defaults to its name.
			id := d.svc.ID
			if id == "" {
				id = d.svc.Name
			}
			if id == "" {
				fmt.Fprintf(c.io.Err, "Error: %s: %s has neither \"id\" nor \"name\"\n", d.file, d.path)
				return 1
			}
			ids = append(ids, id)
		}
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	for _, id := range ids {
		if err := cl.Agent().ServiceDeregister(id); err != nil {
			fmt.Fprintf(c.io.Err, "Error deregistering service %q: %s\n", id, err)
			return 1
		}
		fmt.Fprintf(c.io.Out, "Deregistered service: %s\n", id)
	}
	return 0
}

func (c *deregisterCmd) Help() string {
	return `
Usage: tribune services deregister [options] [FILE...]

  Deregister one or more services that were previously registered with
  the local agent.

      $ tribune services deregister web.json db.json

  The files are the JSON service definitions the services were registered
  with; each service's "id", or its "name" when it has none, is deregistered.

  The -id flag may be used to deregister a single service by ID:

      $ tribune services deregister -id=web

  Services are deregistered from the local agent catalog. This command must
  be run against the same agent where the service was registered.
`
}
