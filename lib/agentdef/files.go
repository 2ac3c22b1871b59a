package agentdef

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

// Definitions are the services and checks that configuration files
// define.
type Definitions struct {
	Services []*agentv1.ServiceDefinition
	// Checks are the checks defined on their own ("check", "checks"); a
	// service's checks are in its definition.
	Checks []*agentv1.CheckDefinition
	// Skipped are the HCL files (*.hcl) of the directories: Consul reads
	// them, Tribune does not, and says so rather than ignore them quietly.
	Skipped []string
}

// LoadFiles reads the definitions of the files paths, in order, then of
// the *.json files of each of dirs, sorted by name (Consul's -config-file
// and -config-dir). Other keys of the files (an agent's own settings) are
// ignored. A service or check ID defined twice is an error, as is a file
// that is not JSON; every error names the file and wraps ErrInvalid, or
// is the error of reading the file.
func LoadFiles(paths []string, dirs []string) (*Definitions, error) {
	var acc accumulator
	for _, p := range paths {
		if err := acc.loadFile(p); err != nil {
			return nil, err
		}
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("agentdef: reading configuration directory: %w", err)
		}
		for _, e := range entries { // sorted by name
			p := filepath.Join(dir, e.Name())
			if e.Type()&os.ModeSymlink != 0 {
				fi, err := os.Stat(p)
				if err != nil {
					return nil, fmt.Errorf("agentdef: %w", err)
				}
				if fi.IsDir() {
					continue
				}
			} else if e.IsDir() {
				continue
			}
			switch {
			case strings.HasSuffix(e.Name(), ".json"):
				if err := acc.loadFile(p); err != nil {
					return nil, err
				}
			case strings.HasSuffix(e.Name(), ".hcl"):
				acc.defs.Skipped = append(acc.defs.Skipped, p)
			}
		}
	}
	return &acc.defs, nil
}

// DecodeFile reads the definitions of one configuration file's contents;
// name names the file in errors.
func DecodeFile(name string, data []byte) (*Definitions, error) {
	var acc accumulator
	if err := acc.add(name, data); err != nil {
		return nil, err
	}
	return &acc.defs, nil
}

// accumulator gathers the definitions of several files, refusing IDs
// defined twice.
type accumulator struct {
	defs     Definitions
	services map[string]string // service ID -> where it is defined
	checks   map[string]string // check ID -> where it is defined
}

func (a *accumulator) loadFile(path string) error {
	if strings.HasSuffix(path, ".hcl") {
		return &Error{File: path, Msg: "HCL configuration is not supported: write the definitions as JSON"}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("agentdef: %w", err)
	}
	return a.add(path, data)
}

// topLevel are the keys of a configuration file that hold definitions.
var topLevel = []struct {
	key     string
	service bool
}{
	{"service", true},
	{"services", true},
	{"check", false},
	{"checks", false},
}

func (a *accumulator) add(file string, data []byte) error {
	o, err := parseObject("", data)
	if err != nil {
		err.(*Error).File = file
		return err
	}
	for _, t := range topLevel {
		v, key, ok := o.raw(t.key)
		if !ok {
			continue
		}
		items, err := elements(key, v)
		if err != nil {
			err.File = file
			return err
		}
		for _, it := range items {
			if err := a.addItem(file, it.where, it.raw, t.service); err != nil {
				var e *Error
				if errors.As(err, &e) {
					e.File, e.Where = file, it.where
				}
				return err
			}
		}
	}
	return nil
}

func (a *accumulator) addItem(file, where string, raw json.RawMessage, service bool) error {
	obj, err := parseObject("", raw)
	if err != nil {
		return err
	}
	at := file + ": " + where
	if service {
		s, err := serviceFrom(obj)
		if err != nil {
			return err
		}
		if prev, ok := a.services[s.Id]; ok {
			return invalidf("service ID %q is already defined at %s", s.Id, prev)
		}
		for _, c := range s.Checks {
			if err := a.claimCheck(c.CheckId, at); err != nil {
				return err
			}
		}
		if a.services == nil {
			a.services = map[string]string{}
		}
		a.services[s.Id] = at
		a.defs.Services = append(a.defs.Services, s)
		return nil
	}
	c, err := standaloneCheckFrom(obj)
	if err != nil {
		return err
	}
	if err := a.claimCheck(c.CheckId, at); err != nil {
		return err
	}
	a.defs.Checks = append(a.defs.Checks, c)
	return nil
}

func (a *accumulator) claimCheck(id, at string) error {
	if prev, ok := a.checks[id]; ok {
		return invalidf("check ID %q is already defined at %s", id, prev)
	}
	if a.checks == nil {
		a.checks = map[string]string{}
	}
	a.checks[id] = at
	return nil
}

type element struct {
	where string
	raw   json.RawMessage
}

// elements splits the value of a top-level key, an object or an array of
// objects, naming each by the key as written ("service", "services[1]").
func elements(key string, v json.RawMessage) ([]element, *Error) {
	switch describe(v) {
	case "an object":
		return []element{{key, v}}, nil
	case "an array":
		var raws []json.RawMessage
		if err := json.Unmarshal(v, &raws); err != nil {
			return nil, malformed(key, err)
		}
		out := make([]element, 0, len(raws))
		for i, r := range raws {
			if describe(r) == "null" {
				continue
			}
			out = append(out, element{fmt.Sprintf("%s[%d]", key, i), r})
		}
		return out, nil
	}
	return nil, malformed(key, fmt.Errorf("want an object or an array of objects, got %s", describe(v)))
}
