package consul

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/proto"

	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// FuzzDecodeAgreesWithEncodingJSON: the catalog decoders, which try a
// faster JSON decoder first, give for any body exactly what decoding it
// with encoding/json alone gives: the same request, or the same error.
// `go test` runs the seeds; `go test -fuzz FuzzDecodeAgreesWithEncodingJSON
// ./services/gateway/consul` searches further.
func FuzzDecodeAgreesWithEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{"Node":"n1","Address":"10.0.0.1"}`,
		`{"node":"n1","ADDRESS":"10.0.0.1","nOdE":"n2","Partition":"","Locality":null}`,
		`{"Node":"n1","Address":"a","Service":{"ID":"r1","Service":"redis","Tags":["a","b"],"Meta":{"k":"v"},"Port":6379,
		  "Weights":{"Passing":10,"Warning":1},"TaggedAddresses":{"lan":{"Address":"10.0.0.1","Port":1}},"Connect":{"Native":true}},
		  "Check":{"CheckID":"c","Name":"n","Status":"passing","ServiceID":"r1","Definition":{"HTTP":"http://x","Interval":"10s",
		  "Timeout":1000000000,"Header":{"A":["1","2"]},"TTL":null,"DeregisterCriticalServiceAfter":""}},
		  "Checks":[{"CheckID":"d","Status":"critical"},null]}`,
		`{"Node":"n1","TaggedAddresses":{"wan":"1.2.3.4"},"NodeMeta":{},"Service":{"Tags":[],"Port":0}}`,
		`{"Node":"t2.320","ServiceID":"redis1","CheckID":"c","Datacenter":"dc1","Namespace":"team-1"}`,
		`{"Node":"\u006e1","Address":"\ud83d\ude00","Service":{"Service":"caf\u00e9"}}`,
		`{"Node":"n1"} trailing`,
		`{"Node":`,
		`[1]`,
		`null`,
		`{"Node":1}`,
		`{"Node":"n","Service":{"Port":"80"}}`,
		`{"Node":"n","Service":{"Port":80.0}}`,
		`{"Node":"n","Service":{"Port":1e2}}`,
		`{"Node":"n","Service":{"Port":99999999999999999999}}`,
		`{"Node":"n","Service":{"Port":70000}}`,
		`{"Check":{"Definition":{"Interval":"ten seconds"}}}`,
		`{"Check":{"Definition":{"Timeout":1.5}}}`,
		`{"Check":{"Definition":{"Timeout":true}}}`,
		`{"Service":{"Service":"web","Weights":{"Passing":-1}}}`,
		`{"SkipNodeUpdate":"true"}`,
		`{"SkipNodeUpdate":true,"Node":"n","Address":"\xff"}`,
		`{"Node":"a","Node":"b"}`,
		` {"Node" : "n" } `,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ref CatalogRegistration
		var refReq *registryv1.RegisterRequest
		refErr := json.Unmarshal(data, &ref)
		if refErr == nil {
			refReq = &registryv1.RegisterRequest{}
			refErr = ref.into(refReq)
		}
		got, err := DecodeRegistration(data)
		agree(t, "registration", data, refReq, refErr, got, err)

		var dref CatalogDeregistration
		var drefReq proto.Message
		derr := json.Unmarshal(data, &dref)
		if derr == nil {
			d := &registryv1.DeregisterRequest{}
			dref.into(d)
			drefReq = d
		}
		dgot, dgotErr := DecodeDeregistration(data)
		var dgotMsg proto.Message
		if dgotErr == nil {
			dgotMsg = dgot
		}
		agree(t, "deregistration", data, drefReq, derr, dgotMsg, dgotErr)
	})
}

func agree[M proto.Message](t *testing.T, what string, data []byte, want M, wantErr error, got M, gotErr error) {
	t.Helper()
	switch {
	case (wantErr == nil) != (gotErr == nil):
		t.Fatalf("%s %q: encoding/json gives error %v, the decoder %v", what, data, wantErr, gotErr)
	case wantErr != nil && wantErr.Error() != gotErr.Error():
		t.Fatalf("%s %q: encoding/json says %q, the decoder %q", what, data, wantErr, gotErr)
	case wantErr == nil && !proto.Equal(want, got):
		t.Fatalf("%s %q: encoding/json gives %v, the decoder %v", what, data, want, got)
	}
}
