package bench

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// loadFlags are the load-generation flags `tribune bench kv` and `tribune
// bench catalog` share, bound to the fields of the subcommand's
// configuration they fill.
type loadFlags struct {
	target, addr      *string
	clients           *int
	duration, timeout *time.Duration
	requests          *int64
	json              *bool

	fs *flag.FlagSet // where register declared them
}

// register declares on fs -target (default grpc), -addr (default: the
// target's, set by finish), -clients (default clients), -duration,
// -requests, -timeout and -json. The -target and -addr usages name the
// subcommand's targets.
func (l *loadFlags) register(fs *flag.FlagSet, clients int, targetUsage, addrUsage string) {
	l.fs = fs
	fs.StringVar(l.target, "target", targetGRPC, targetUsage)
	fs.StringVar(l.addr, "addr", "", addrUsage)
	fs.IntVar(l.clients, "clients", clients, "The number of concurrent clients, each with one request in flight.")
	fs.DurationVar(l.duration, "duration", 10*time.Second, "How long to run; exclusive with -requests.")
	fs.Int64Var(l.requests, "requests", 0, "Stop after this many requests in all instead of after -duration.")
	fs.DurationVar(l.timeout, "timeout", 10*time.Second, "The timeout of each request; one that expires counts as an error.")
	fs.BoolVar(l.json, "json", false, "Print the result as one JSON object instead of a table.")
}

// isSet reports whether the parsed command line set the flag name.
func (l *loadFlags) isSet(name string) bool {
	set := false
	l.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// validate checks -clients, -duration and -requests once fs is parsed.
// -target and -timeout are the subcommand's to check: where their errors
// come among its own is its choice.
func (l *loadFlags) validate() error {
	switch {
	case *l.clients < 1:
		return fmt.Errorf("-clients must be at least 1, not %d", *l.clients)
	case *l.clients > 100000:
		return fmt.Errorf("-clients must be at most 100000, not %d", *l.clients)
	case l.isSet("duration") && l.isSet("requests"):
		return errors.New("-duration and -requests are exclusive: give one")
	case *l.requests < 0:
		return fmt.Errorf("-requests must be positive, not %d", *l.requests)
	case l.isSet("requests") && *l.requests == 0:
		return errors.New("-requests must be positive, not 0")
	case *l.requests == 0 && *l.duration <= 0:
		return fmt.Errorf("-duration must be positive, not %s", *l.duration)
	}
	return nil
}

// finish completes validated flags: with -requests, the duration is 0;
// without -addr, the address is the target's default.
func (l *loadFlags) finish() {
	if *l.requests > 0 {
		*l.duration = 0
	}
	if *l.addr == "" {
		*l.addr = defaultAddrs[*l.target]
	}
}
