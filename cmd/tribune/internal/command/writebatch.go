package command

import (
	"flag"

	"github.com/tribune/tribune/lib/batch"
)

// WriteBatchFlags registers on fs the bounds of the batches in which the
// gateway sends local-datacenter KV and catalog writes to the kv and
// registry services (lib/batch), with b's values as their defaults. Both
// `tribune agent` and `tribune service gateway` take them.
func WriteBatchFlags(fs *flag.FlagSet, b *batch.Config) {
	fs.IntVar(&b.MaxInFlight, "write-batch-max-inflight", b.MaxInFlight, "How many batches of KV or catalog writes the gateway may have out to the kv or registry service at once; must be positive.")
	fs.IntVar(&b.MaxItems, "write-batch-max-items", b.MaxItems, "The most writes in one batch of KV or catalog writes; must be positive.")
	fs.IntVar(&b.MaxBytes, "write-batch-max-bytes", b.MaxBytes, "The most bytes in one batch of KV or catalog writes; a larger write goes alone. Must be positive.")
}
