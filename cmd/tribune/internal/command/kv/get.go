package kv

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// getCmd is `tribune kv get`.
type getCmd struct {
	io        command.IO
	http      command.HTTPFlags
	base64    bool
	detailed  bool
	keys      bool
	recurse   bool
	separator string
}

func (c *getCmd) Synopsis() string { return "Retrieves or lists data from the KV store" }

func (c *getCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("get")
	fs.BoolVar(&c.base64, "base64", false,
		"Base64 encode the value. The default value is false.")
	fs.BoolVar(&c.detailed, "detailed", false,
		"Provide additional metadata about the key in addition to the value such "+
			"as the ModifyIndex and any flags that may have been set on the key. "+
			"The default value is false.")
	fs.BoolVar(&c.keys, "keys", false,
		"List keys which start with the given prefix, but not their values. "+
			"This is especially useful if you only need the key names themselves. "+
			"This option is commonly combined with the -separator option. The default "+
			"value is false.")
	fs.BoolVar(&c.recurse, "recurse", false,
		"Recursively look at all keys prefixed with the given path. The default "+
			"value is false.")
	fs.StringVar(&c.separator, "separator", "/",
		"String to use as a separator between keys. The default value is \"/\", "+
			"but this option is only taken into account when paired with the -keys flag.")
	c.http.Register(fs)
	return fs
}

func (c *getCmd) Run(ctx context.Context, args []string) int {
	var key string
	switch len(args) {
	case 0:
	case 1:
		key = args[0]
	default:
		fmt.Fprintf(c.io.Err, "Too many arguments (expected 1, got %d)\n", len(args))
		return 1
	}
	key = trimKey(key)
	if key == "" && !c.recurse && !c.keys {
		fmt.Fprintln(c.io.Err, "Error! Missing KEY argument")
		return 1
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	q := (&api.QueryOptions{AllowStale: c.http.Stale}).WithContext(ctx)

	switch {
	case c.keys:
		keys, _, err := cl.KV().Keys(key, c.separator, q)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error querying Consul agent: %s\n", err)
			return 1
		}
		for _, k := range keys {
			fmt.Fprintln(c.io.Out, k)
		}
		return 0

	case c.recurse:
		pairs, _, err := cl.KV().List(key, q)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error querying Consul agent: %s\n", err)
			return 1
		}
		for i, pair := range pairs {
			if c.detailed {
				var b bytes.Buffer
				if err := prettyKVPair(&b, pair, c.base64); err != nil {
					fmt.Fprintf(c.io.Err, "Error rendering KV pair: %s\n", err)
					return 1
				}
				fmt.Fprintln(c.io.Out, b.String())
				if i < len(pairs)-1 {
					fmt.Fprintln(c.io.Out)
				}
				continue
			}
			fmt.Fprintf(c.io.Out, "%s:%s\n", pair.Key, c.value(pair.Value))
		}
		return 0

	default:
		pair, _, err := cl.KV().Get(key, q)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error querying Consul agent: %s\n", err)
			return 1
		}
		if pair == nil {
			fmt.Fprintf(c.io.Err, "Error! No key exists at: %s\n", key)
			return 1
		}
		if c.detailed {
			var b bytes.Buffer
			if err := prettyKVPair(&b, pair, c.base64); err != nil {
				fmt.Fprintf(c.io.Err, "Error rendering KV pair: %s\n", err)
				return 1
			}
			fmt.Fprintln(c.io.Out, b.String())
			return 0
		}
		fmt.Fprintln(c.io.Out, c.value(pair.Value))
		return 0
	}
}

// value renders a value raw, or base64-encoded with -base64.
func (c *getCmd) value(v []byte) string {
	if c.base64 {
		return base64.StdEncoding.EncodeToString(v)
	}
	return string(v)
}

// prettyKVPair writes a pair as `consul kv get -detailed` does: one
// aligned "Field  value" line per field, the last without a newline.
func prettyKVPair(w io.Writer, pair *api.KVPair, base64Value bool) error {
	tw := tabwriter.NewWriter(w, 0, 2, 6, ' ', 0)
	fmt.Fprintf(tw, "CreateIndex\t%d\n", pair.CreateIndex)
	fmt.Fprintf(tw, "Flags\t%d\n", pair.Flags)
	fmt.Fprintf(tw, "Key\t%s\n", pair.Key)
	fmt.Fprintf(tw, "LockIndex\t%d\n", pair.LockIndex)
	fmt.Fprintf(tw, "ModifyIndex\t%d\n", pair.ModifyIndex)
	if pair.Session == "" {
		fmt.Fprint(tw, "Session\t-\n")
	} else {
		fmt.Fprintf(tw, "Session\t%s\n", pair.Session)
	}
	if pair.Partition != "" {
		fmt.Fprintf(tw, "Partition\t%s\n", pair.Partition)
	}
	if pair.Namespace != "" {
		fmt.Fprintf(tw, "Namespace\t%s\n", pair.Namespace)
	}
	if base64Value {
		fmt.Fprintf(tw, "Value\t%s", base64.StdEncoding.EncodeToString(pair.Value))
	} else {
		fmt.Fprintf(tw, "Value\t%s", pair.Value)
	}
	return tw.Flush()
}

func (c *getCmd) Help() string {
	return `
Usage: tribune kv get [options] [KEY_OR_PREFIX]

  Retrieves the value from the key-value store at the given key name. If no
  key exists with that name, an error is returned. If a key exists with that
  name but has no data, nothing is returned. If the name or prefix is omitted,
  it defaults to "" which is the root of the key-value store.

  To retrieve the value for the key named "foo" in the key-value store:

      $ tribune kv get foo

  This will return the original, raw value stored. To view detailed
  information about the key, specify the "-detailed" flag. This will output all
  known metadata about the key including ModifyIndex and any user-supplied
  flags:

      $ tribune kv get -detailed foo

  To treat the path as a prefix and list all keys which start with the given
  prefix, specify the "-recurse" flag:

      $ tribune kv get -recurse foo

  This will return all key-value pairs. To just list the keys which start with
  the specified prefix, use the "-keys" option instead:

      $ tribune kv get -keys foo
`
}
