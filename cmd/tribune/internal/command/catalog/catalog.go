// Package catalog implements `tribune catalog datacenters|nodes|services`,
// the catalog commands of Consul's CLI (`consul catalog ...`), with the
// same flags and output, over the agent's Consul-compatible HTTP API.
package catalog

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// New returns the catalog command.
func New(io command.IO) command.Command {
	return &command.Family{
		IO: io, Name: "catalog", Summary: "Interact with the catalog", Intro: intro, NoArgs: true,
		Subcommands: map[string]command.Subcommand{
			"datacenters": &datacentersCmd{io: io},
			"nodes":       &nodesCmd{io: io},
			"services":    &servicesCmd{io: io},
		},
	}
}

const intro = `
  This command has subcommands for interacting with the catalog. The
  catalog should not be confused with the agent, although the APIs and
  responses may be similar.

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  List all datacenters:

      $ tribune catalog datacenters

  List all nodes:

      $ tribune catalog nodes

  List all services:

      $ tribune catalog services

  For more examples, ask for subcommand help or view the documentation.
`

// queryOptions returns the read options every catalog query shares.
func queryOptions(ctx context.Context, h *command.HTTPFlags, nodeMeta map[string]string) *api.QueryOptions {
	q := &api.QueryOptions{AllowStale: h.Stale, NodeMeta: nodeMeta}
	return q.WithContext(ctx)
}

// mapValue is a repeatable key=value flag, as Consul's -node-meta. Its
// errors, like loadDataSource's, keep Consul's capitalised wording.
type mapValue map[string]string

var _ flag.Value = (*mapValue)(nil)

func (m *mapValue) String() string {
	if m == nil {
		return fmt.Sprintf("%v", map[string]string(nil))
	}
	return fmt.Sprintf("%v", map[string]string(*m))
}

func (m *mapValue) Set(v string) error {
	key, value, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("Missing \"=\" value in argument: %s", v)
	}
	if *m == nil {
		*m = mapValue{}
	}
	(*m)[key] = value
	return nil
}

// loadDataSource reads a flag's value as Consul's CLI does: "@path" is the
// file's contents, "-" is standard input, and anything else is itself.
func loadDataSource(data string, stdin io.Reader) (string, error) {
	switch {
	case data == "":
		return "", nil
	case data[0] == '@':
		b, err := os.ReadFile(data[1:])
		if err != nil {
			return "", fmt.Errorf("Failed to read file: %s", err)
		}
		return string(b), nil
	case data == "-":
		if stdin == nil {
			stdin = os.Stdin
		}
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", fmt.Errorf("Failed to read stdin: %s", err)
		}
		return string(b), nil
	default:
		return data, nil
	}
}

// mapToKV renders a map as "k1=v1, k2=v2", sorted by key, as Consul's
// catalog commands print tagged addresses and metadata.
func mapToKV(m map[string]string, joiner string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r := make([]string, len(keys))
	for i, k := range keys {
		r[i] = k + "=" + m[k]
	}
	return strings.Join(r, joiner)
}
