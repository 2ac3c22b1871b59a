package fsm

import (
	"fmt"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/blocking"
	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/registry/fsm/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// BenchmarkUpdateChurn applies what `tribune bench catalog -op churn`
// proposes: Batch entries of 32 commands, each registering an instance of
// one of 1,000 services on one of 100 nodes with a passing check, or
// deregistering it. One op is one command. Compare with the KV state
// machine's BenchmarkUpdatePut:
//
//	go test -run NONE -bench Update -benchmem ./services/registry/fsm ./services/kv/fsm
func BenchmarkUpdateChurn(b *testing.B) {
	const perEntry = 32
	f := New(blocking.NewHub(), nil)
	// Entries alternate: one registers 32 instances, the next removes them.
	var cmds [][]byte
	for e := 0; e < 64; e++ {
		var batch fsmv1.Batch
		for i := range perEntry {
			n := (e/2*perEntry + i) % 1000
			node, id := fmt.Sprintf("node-%d", n%100), fmt.Sprintf("svc-%d-%d", n, n%100)
			if e%2 == 1 {
				batch.Commands = append(batch.Commands, &fsmv1.Command{Op: &fsmv1.Command_Deregister{
					Deregister: &fsmv1.Deregister{Node: node, ServiceId: id}}})
				continue
			}
			batch.Commands = append(batch.Commands, &fsmv1.Command{Op: &fsmv1.Command_Register{Register: &fsmv1.Register{
				Node:    &registryv1.Node{Node: node, Address: "10.0.0.1", Datacenter: "dc1"},
				Service: &registryv1.Service{Id: id, Service: fmt.Sprintf("svc-%d", n), Port: 8080, Weights: &registryv1.Weights{Passing: 1, Warning: 1}},
				Checks:  []*registryv1.Check{{Node: node, CheckId: "service:" + id, Name: "Service check", Status: "passing", ServiceId: id}},
			}}})
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
