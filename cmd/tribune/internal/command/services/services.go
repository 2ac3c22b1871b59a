// Package services implements `tribune services register|deregister`, the
// service commands of Consul's CLI (`consul services ...`), with the same
// flags and output, over the agent's Consul-compatible HTTP API.
package services

import (
	"flag"
	"fmt"
	"strings"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// New returns the services command.
func New(io command.IO) command.Command {
	return &command.Family{
		IO: io, Name: "services", Summary: "Interact with services", Intro: intro, NoArgs: false,
		Subcommands: map[string]command.Subcommand{
			"register":   &registerCmd{io: io},
			"deregister": &deregisterCmd{io: io},
		},
	}
}

const intro = `
  This command has subcommands for interacting with services. The subcommands
  default to working with services registered with the local agent. Please see
  the "tribune catalog" command for interacting with the entire catalog.

  Register a service from a JSON service definition file:

      $ tribune services register web.json

  Or from flags:

      $ tribune services register -name=web -port=8080 -tag=v1

  Deregister it:

      $ tribune services deregister -id=web

  For more examples, ask for subcommand help or view the documentation.
`

// mapValue is a repeatable key=value flag, as Consul's -meta and
// -tagged-address. Its error keeps Consul's capitalised wording.
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

// sliceValue is a repeatable flag collecting its values in order, as
// Consul's -tag.
type sliceValue []string

var _ flag.Value = (*sliceValue)(nil)

func (s *sliceValue) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, ",")
}

func (s *sliceValue) Set(v string) error {
	*s = append(*s, v)
	return nil
}
