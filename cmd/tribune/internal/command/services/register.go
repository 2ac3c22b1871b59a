package services

import (
	"context"
	"flag"
	"fmt"
	"sort"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// registerCmd is `tribune services register`.
type registerCmd struct {
	io             command.IO
	http           command.HTTPFlags
	kind           string
	id             string
	name           string
	address        string
	port           int
	tags           sliceValue
	meta           mapValue
	taggedAddrsArg mapValue
}

func (c *registerCmd) Synopsis() string { return "Register services with the local agent" }

func (c *registerCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("register")
	fs.StringVar(&c.id, "id", "",
		"ID of the service to register for arg-based registration. If this "+
			"isn't set, it will default to the -name value.")
	fs.StringVar(&c.name, "name", "",
		"Name of the service to register for arg-based registration.")
	fs.StringVar(&c.address, "address", "",
		"Address of the service to register for arg-based registration.")
	fs.IntVar(&c.port, "port", 0,
		"Port of the service to register for arg-based registration.")
	fs.Var(&c.meta, "meta",
		"Metadata to set on the service, formatted as `key=value`. This flag "+
			"may be specified multiple times to set multiple meta fields.")
	fs.Var(&c.tags, "tag",
		"Tag to add to the service. This flag can be specified multiple "+
			"times to set multiple tags.")
	fs.Var(&c.taggedAddrsArg, "tagged-address",
		"Tagged address to set on the service, formatted as `key=host:port`. This flag "+
			"may be specified multiple times to set multiple addresses.")
	fs.StringVar(&c.kind, "kind", "", "The services 'kind'")
	c.http.Register(fs)
	return fs
}

func (c *registerCmd) Run(ctx context.Context, args []string) int {
	var taggedAddrs map[string]api.ServiceAddress
	if len(c.taggedAddrsArg) > 0 {
		taggedAddrs = make(map[string]api.ServiceAddress, len(c.taggedAddrsArg))
		keys := make([]string, 0, len(c.taggedAddrsArg))
		for k := range c.taggedAddrsArg {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			addr, err := api.ParseServiceAddr(c.taggedAddrsArg[k])
			if err != nil {
				fmt.Fprintf(c.io.Err, "Invalid Tagged Address: %v\n", err)
				return 1
			}
			taggedAddrs[k] = addr
		}
	}
	if c.port < 0 || c.port > 65535 {
		fmt.Fprintf(c.io.Err, "Invalid -port %d: a port is between 1 and 65535\n", c.port)
		return 1
	}
	fromFlags := &api.AgentServiceRegistration{
		Kind:            api.ServiceKind(c.kind),
		ID:              c.id,
		Name:            c.name,
		Address:         c.address,
		Port:            c.port,
		Tags:            c.tags,
		Meta:            c.meta,
		TaggedAddresses: taggedAddrs,
	}

	switch {
	case len(args) == 0 && c.name == "":
		fmt.Fprintln(c.io.Err, "Service registration requires at least one argument or flags.")
		return 1
	case len(args) > 0 && c.name != "":
		fmt.Fprintln(c.io.Err, "Service registration requires arguments or -name, not both.")
		return 1
	}

	svcs := []*api.AgentServiceRegistration{fromFlags}
	if len(args) > 0 {
		defs, err := servicesFromFiles(args, c.warn)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error: %s\n", err)
			return 1
		}
		svcs = svcs[:0]
		for _, d := range defs {
			combineArgs(d.svc, fromFlags)
			if d.svc.Name == "" {
				fmt.Fprintf(c.io.Err, "Error: %s: %s has no \"name\"\n", d.file, d.path)
				return 1
			}
			svcs = append(svcs, d.svc)
		}
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	for _, svc := range svcs {
		if err := cl.Agent().ServiceRegister(svc); err != nil {
			fmt.Fprintf(c.io.Err, "Error registering service %q: %s\n", svc.Name, err)
			return 1
		}
		fmt.Fprintf(c.io.Out, "Registered service: %s\n", svc.Name)
	}
	return 0
}

func (c *registerCmd) warn(msg string) { fmt.Fprintf(c.io.Err, "Warning: %s\n", msg) }

// combineArgs completes a service read from a file with the flags, as
// Consul does: a flag fills a field the file leaves empty, -meta entries
// are added (replacing the file's for the same key) and -tag values are
// appended to the file's tags.
func combineArgs(file, flags *api.AgentServiceRegistration) {
	if file.ID == "" {
		file.ID = flags.ID
	}
	if file.Name == "" {
		file.Name = flags.Name
	}
	if file.Address == "" {
		file.Address = flags.Address
	}
	if file.Port == 0 {
		file.Port = flags.Port
	}
	if file.Kind == "" {
		file.Kind = flags.Kind
	}
	if len(flags.Meta) > 0 && file.Meta == nil {
		file.Meta = make(map[string]string, len(flags.Meta))
	}
	for k, v := range flags.Meta {
		file.Meta[k] = v
	}
	if len(flags.TaggedAddresses) > 0 && file.TaggedAddresses == nil {
		file.TaggedAddresses = make(map[string]api.ServiceAddress, len(flags.TaggedAddresses))
	}
	for k, v := range flags.TaggedAddresses {
		file.TaggedAddresses[k] = v
	}
	file.Tags = append(file.Tags, flags.Tags...)
}

func (c *registerCmd) Help() string {
	return `
Usage: tribune services register [options] [FILE...]

  Register one or more services using the local agent API. Services can
  be registered from Consul's JSON service definition files or using flags.
  (Consul's HCL definitions are not supported: write them in JSON.) The
  service is registered and the command returns. The caller must remember to
  call "tribune services deregister" or a similar API to deregister the
  service when complete.

      $ tribune services register web.json

  A file holds one service or a list of them:

      {"service": {"name": "web", "port": 8080, "tags": ["v1"]}}
      {"services": [{"name": "web", "port": 8080}, {"name": "db", "port": 5432}]}

  A single service can also be registered with flags:

      $ tribune services register -name=web -port=8080 -tag=v1 -meta=env=prod

  With files, the flags other than -name fill in what the files leave out,
  and -tag and -meta add to the files' tags and metadata.
`
}
