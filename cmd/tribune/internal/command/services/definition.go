package services

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"
)

// This file reads Consul's JSON service definitions. It could move to (or
// give way to) a shared decoder of agent definitions, such as the agent's
// own, once there is one.

// definition is a service read from a file.
type definition struct {
	// file is the file's name and path where in it the service is:
	// "service", "services[1]".
	file, path string
	svc        *api.AgentServiceRegistration
}

// servicesFromFiles reads the service definitions in files, in order.
// Each file is a JSON object, as Consul's agent configuration files are,
// with a "service" object or a "services" list (or both); its other keys
// are ignored. warn, when not nil, is told of the fields of a definition
// that Tribune does not read.
func servicesFromFiles(files []string, warn func(string)) ([]definition, error) {
	var out []definition
	for _, name := range files {
		defs, err := servicesFromFile(name, warn)
		if err != nil {
			return nil, err
		}
		out = append(out, defs...)
	}
	return out, nil
}

func servicesFromFile(name string, warn func(string)) ([]definition, error) {
	if strings.EqualFold(filepath.Ext(name), ".hcl") {
		return nil, fmt.Errorf("%s: HCL service definitions are not supported; write the definition in JSON", name)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var fileWarn func(string)
	if warn != nil {
		fileWarn = func(msg string) { warn(name + ": " + msg) }
	}
	svcs, err := decodeServices(data, fileWarn)
	if err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) && !strings.EqualFold(filepath.Ext(name), ".json") {
			return nil, fmt.Errorf("failed to parse %s: %s (service definitions must be JSON; HCL is not supported)", name, err)
		}
		return nil, fmt.Errorf("failed to parse %s: %s", name, err)
	}
	for i := range svcs {
		svcs[i].file = name
	}
	return svcs, nil
}

// decodeServices decodes the services of one JSON document.
func decodeServices(data []byte, warn func(string)) ([]definition, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a JSON object, got %s", jsonKind(doc))
	}

	var out []definition
	found := false
	for _, key := range sortedKeys(top) {
		switch normalize(key) {
		case "service", "services":
		default:
			continue
		}
		// "service" is an object and "services" a list, but either may be
		// the other, as in Consul's configuration.
		list, isList := top[key].([]any)
		if !isList {
			list = []any{top[key]}
		}
		found = true
		for i, v := range list {
			path := key
			if isList {
				path = fmt.Sprintf("%s[%d]", key, i)
			}
			svc, err := decodeService(v, path, warn)
			if err != nil {
				return nil, err
			}
			out = append(out, definition{path: path, svc: svc})
		}
	}
	if !found {
		return nil, errors.New(`no "service" or "services" key: a service definition file looks like {"service": {"name": "web", "port": 8080}}`)
	}
	return out, nil
}

var registrationType = reflect.TypeOf(api.AgentServiceRegistration{})

// decodeService decodes one service definition, in Consul's form: keys in
// snake_case ("enable_tag_override") or in the HTTP API's CamelCase
// ("EnableTagOverride"), in any case.
func decodeService(v any, path string, warn func(string)) (*api.AgentServiceRegistration, error) {
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("%s: expected a JSON object, got %s", path, jsonKind(v))
	}
	canon, err := canonicalize(v, registrationType, path, warn)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(canon)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var svc api.AgentServiceRegistration
	if err := json.Unmarshal(b, &svc); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, fmt.Errorf("%s: %s must be %s, not a JSON %s", path, typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &svc, nil
}

// fieldAliases are the keys of Consul's definitions that do not name their
// field of the API's struct.
var fieldAliases = map[reflect.Type]map[string]string{
	reflect.TypeOf(api.AgentServiceCheck{}): {"id": "CheckID"},
}

// canonicalize rewrites the keys of v, decoded JSON for a value of type t,
// to the keys encoding/json reads into t: for a struct, each key matches
// the field whose name or JSON name it spells ignoring case and "_" or
// "-"; a map's keys are its own and stay as they are. Keys that match no
// field are dropped, and warn, when not nil, is told of each.
func canonicalize(v any, t reflect.Type, path string, warn func(string)) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return v, nil // encoding/json reports the mismatch.
		}
		fields := structFields(t)
		out := make(map[string]any, len(obj))
		for _, key := range sortedKeys(obj) {
			f, ok := fields[normalize(key)]
			if !ok {
				if warn != nil {
					warn(fmt.Sprintf("ignoring %s.%s: not a field Tribune reads", path, key))
				}
				continue
			}
			cv, err := canonicalize(obj[key], f.typ, path+"."+key, warn)
			if err != nil {
				return nil, err
			}
			out[f.name] = cv
		}
		return out, nil
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		out := make(map[string]any, len(obj))
		for _, key := range sortedKeys(obj) {
			cv, err := canonicalize(obj[key], t.Elem(), path+"."+key, warn)
			if err != nil {
				return nil, err
			}
			out[key] = cv
		}
		return out, nil
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok {
			return v, nil
		}
		out := make([]any, len(list))
		for i, e := range list {
			cv, err := canonicalize(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), warn)
			if err != nil {
				return nil, err
			}
			out[i] = cv
		}
		return out, nil
	default:
		return v, nil
	}
}

// field is a struct field as encoding/json sees it.
type field struct {
	name string // its JSON name
	typ  reflect.Type
}

// structFields returns t's fields by their normalized names and JSON names
// (and aliases).
func structFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if sf.Anonymous && name == "" {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			f := field{name: name, typ: sf.Type}
			out[normalize(sf.Name)] = f
			out[normalize(name)] = f
		}
	}
	walk(t)
	for alias, target := range fieldAliases[t] {
		if f, ok := out[normalize(target)]; ok {
			out[alias] = f
		}
	}
	return out
}

var keySeparators = strings.NewReplacer("_", "", "-", "")

// normalize is a key without case and separators: "enable_tag_override",
// "EnableTagOverride" and "enableTagOverride" are all
// "enabletagoverride".
func normalize(key string) string { return strings.ToLower(keySeparators.Replace(key)) }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonKind names the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// jsonError adds the line and column to a JSON syntax error.
func jsonError(data []byte, err error) error {
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		if errors.Is(err, io.EOF) {
			return errors.New("the file is empty")
		}
		return err
	}
	// Offset is the number of bytes read when the error was found: the
	// offending byte is the last of them.
	at := min(max(int(syntax.Offset)-1, 0), len(data))
	line := 1 + bytes.Count(data[:at], []byte("\n"))
	col := at - bytes.LastIndexByte(data[:at], '\n')
	return &positionError{line: line, col: col, err: syntax}
}

// positionError is a syntax error at a line and column.
type positionError struct {
	line, col int
	err       *json.SyntaxError
}

func (e *positionError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.line, e.col, e.err)
}

func (e *positionError) Unwrap() error { return e.err }
