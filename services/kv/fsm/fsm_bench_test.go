package fsm_test

import (
	"fmt"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/blocking"
	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/kv/fsm/v1"
	"github.com/tribune/tribune/services/kv/fsm"
)

// BenchmarkUpdatePut applies what `tribune bench kv -op put` proposes:
// Batch entries of 32 puts of 256-byte values to keys among 10,000. One op
// is one put. Compare with the registry's BenchmarkUpdateChurn.
func BenchmarkUpdatePut(b *testing.B) {
	const perEntry = 32
	f := fsm.New(blocking.NewHub(), nil)
	value := make([]byte, 256)
	var cmds [][]byte
	for e := 0; e < 64; e++ {
		var batch fsmv1.Batch
		for i := range perEntry {
			batch.Commands = append(batch.Commands, &fsmv1.Command{Op: &fsmv1.Command_Put{Put: &fsmv1.Put{
				Key: fmt.Sprintf("bench/%d", (e*perEntry+i*313)%10000), Value: value}}})
		}
		raw, err := proto.Marshal(&fsmv1.Command{Op: &fsmv1.Command_Batch{Batch: &batch}})
		if err != nil {
			b.Fatal(err)
		}
		cmds = append(cmds, raw)
	}
	b.ReportAllocs()
	b.ResetTimer()
	entries := make([]sm.Entry, 1)
	for i := 0; i < b.N; i += perEntry {
		entries[0] = sm.Entry{Index: uint64(i/perEntry + 1), Cmd: cmds[(i/perEntry)%len(cmds)]}
		if _, err := f.Update(entries); err != nil {
			b.Fatal(err)
		}
	}
}
