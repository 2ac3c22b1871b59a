package agentdef

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
)

// object is a JSON object whose keys are matched as Consul matches them:
// case-insensitively (encoding/json), and with snake_case the same as
// PascalCase ("tls_skip_verify" is TLSSkipVerify), which Consul's
// definitions accept over HTTP and in configuration files alike. Keys that
// are never asked for are ignored, as Consul ignores unknown fields.
//
// Only the keys of definitions are matched this way; the keys of maps
// (Meta, Header, TaggedAddresses) are data and are kept as written.
type object struct {
	// path names the object in errors: "", "Check", "Checks[1]", ...
	path   string
	fields map[string]field
}

// field is a value with its key as written, which errors use.
type field struct {
	key string
	raw json.RawMessage
}

// normKey is the form in which two spellings of a key compare equal.
func normKey(k string) string {
	return strings.ToLower(strings.ReplaceAll(k, "_", ""))
}

// parseObject reads data, which must be a JSON object. Of two keys with
// the same normal form, the later one counts, as with encoding/json. A
// null value is the same as an absent key.
func parseObject(path string, data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, malformed(path, jsonError(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, malformed(path, fmt.Errorf("want a JSON object, got %s", describe(data)))
	}
	o := &object{path: path, fields: map[string]field{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed(path, jsonError(err))
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed(path, jsonError(err))
		}
		if bytes.Equal(raw, []byte("null")) {
			delete(o.fields, normKey(key))
			continue
		}
		o.fields[normKey(key)] = field{key: key, raw: raw}
	}
	if _, err := dec.Token(); err != nil {
		return nil, malformed(path, jsonError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, malformed(path, errors.New("invalid character after top-level value"))
	}
	return o, nil
}

// jsonError turns a premature end into encoding/json's text for it.
func jsonError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of JSON input")
	}
	return err
}

// describe names the kind of JSON value data is, for errors.
func describe(data []byte) string {
	b := bytes.TrimSpace(data)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// fieldPath is the path of the field named name in o.
func (o *object) fieldPath(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

// raw returns the value of the first of names present in o (names in any
// spelling, e.g. "DeregisterCriticalServiceAfter"), and its key as
// written.
func (o *object) raw(names ...string) (json.RawMessage, string, bool) {
	for _, n := range names {
		if f, ok := o.fields[normKey(n)]; ok {
			return f.raw, f.key, true
		}
	}
	return nil, "", false
}

// written is the path of the field name as written, or as name when absent.
func (o *object) written(name string) string {
	if f, ok := o.fields[normKey(name)]; ok {
		return o.fieldPath(f.key)
	}
	return o.fieldPath(name)
}

// has reports whether any of names is present.
func (o *object) has(names ...string) bool {
	_, _, ok := o.raw(names...)
	return ok
}

// decode unmarshals the value of the first of names present into dst.
func (o *object) decode(dst any, names ...string) error {
	v, name, ok := o.raw(names...)
	if !ok {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return malformed(o.fieldPath(name), fmt.Errorf("json: cannot unmarshal %s into Go value of type %s", te.Value, te.Type))
		}
		return malformed(o.fieldPath(name), err)
	}
	return nil
}

func (o *object) string(names ...string) (string, error) {
	var s string
	err := o.decode(&s, names...)
	return s, err
}

func (o *object) bool(names ...string) (bool, error) {
	var b bool
	err := o.decode(&b, names...)
	return b, err
}

func (o *object) int(names ...string) (int, error) {
	var n int
	err := o.decode(&n, names...)
	return n, err
}

func (o *object) strings(names ...string) ([]string, error) {
	var s []string
	err := o.decode(&s, names...)
	return s, err
}

// duration reads a duration as Consul does: a Go duration string ("10s")
// or a number of nanoseconds. An empty string is no duration.
func (o *object) duration(names ...string) (*durationpb.Duration, error) {
	v, name, ok := o.raw(names...)
	if !ok {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return malformed("", fmt.Errorf("Invalid duration for %s: %s", o.fieldPath(name), fmt.Sprintf(format, args...)))
	}
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return nil, bad("%v", err)
	}
	var d time.Duration
	switch x := x.(type) {
	case string:
		if x == "" {
			return nil, nil
		}
		p, err := time.ParseDuration(x)
		if err != nil {
			return nil, bad("%v", err)
		}
		d = p
	case float64:
		if x != math.Trunc(x) || x >= math.MaxInt64 || x <= math.MinInt64 {
			return nil, bad("%s is not a whole number of nanoseconds", v)
		}
		d = time.Duration(x)
	default:
		return nil, bad("want a string such as \"10s\" or a number of nanoseconds, got %s", describe(v))
	}
	if d < 0 {
		return nil, invalid(fmt.Sprintf("Invalid duration for %s: %s is negative", o.fieldPath(name), d))
	}
	return durationpb.New(d), nil
}

// objects reads the value of the first of names present as a list of
// objects. A single object is a list of one, as Consul's configuration
// files allow ("check": {...} or "check": [{...}, ...]).
func (o *object) objects(names ...string) ([]*object, error) {
	v, name, ok := o.raw(names...)
	if !ok {
		return nil, nil
	}
	return objectList(o.fieldPath(name), v)
}

// objectList reads v, an object or an array of objects, naming the
// elements path[i] (or path for a single object).
func objectList(path string, v json.RawMessage) ([]*object, error) {
	switch describe(v) {
	case "an object":
		obj, err := parseObject(path, v)
		if err != nil {
			return nil, err
		}
		return []*object{obj}, nil
	case "an array":
		var elems []json.RawMessage
		if err := json.Unmarshal(v, &elems); err != nil {
			return nil, malformed(path, err)
		}
		out := make([]*object, 0, len(elems))
		for i, e := range elems {
			if bytes.Equal(bytes.TrimSpace(e), []byte("null")) {
				continue
			}
			obj, err := parseObject(fmt.Sprintf("%s[%d]", path, i), e)
			if err != nil {
				return nil, err
			}
			out = append(out, obj)
		}
		return out, nil
	}
	return nil, malformed(path, fmt.Errorf("want an object or an array of objects, got %s", describe(v)))
}
