package httpapi

import (
	"encoding/json"
	"net/url"
	"testing"

	"google.golang.org/protobuf/proto"

	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
)

func TestParseOperator(t *testing.T) {
	tests := []struct {
		query   string
		msg     proto.Message
		want    proto.Message
		wantErr string
	}{
		{"dc=dc2", &statusv1.LeaderRequest{}, &statusv1.LeaderRequest{Datacenter: "dc2"}, ""},
		{"", &statusv1.RaftConfigurationRequest{}, &statusv1.RaftConfigurationRequest{}, ""},
		{"stale&dc=dc2", &statusv1.RaftConfigurationRequest{}, &statusv1.RaftConfigurationRequest{Stale: true, Datacenter: "dc2"}, ""},
		{"stale&consistent", &statusv1.RaftConfigurationRequest{}, nil, "Cannot specify ?stale with ?consistent, conflicting semantics."},
		{"id=abc", &statusv1.RemovePeerRequest{}, &statusv1.RemovePeerRequest{Id: "abc"}, ""},
		{"address=10.0.0.1:8300&dc=dc1", &statusv1.RemovePeerRequest{}, &statusv1.RemovePeerRequest{Address: "10.0.0.1:8300", Datacenter: "dc1"}, ""},
		{"", &statusv1.RemovePeerRequest{}, nil, "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove"},
		{"id=a&address=b", &statusv1.RemovePeerRequest{}, nil, "Must specify only one of ?id or ?address"},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		err = queryParser{}.Parse(tt.msg, v, nil)
		switch {
		case tt.wantErr != "":
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%T ?%s: error %v, want %q", tt.msg, tt.query, err, tt.wantErr)
			}
		case err != nil || !proto.Equal(tt.msg, tt.want):
			t.Errorf("%T ?%s: %v %v, want %v", tt.msg, tt.query, tt.msg, err, tt.want)
		}
	}
}

func TestOperatorView(t *testing.T) {
	tests := []struct {
		msg  proto.Message
		want string
	}{
		{&statusv1.LeaderResponse{}, `""`},
		{&statusv1.PeersResponse{}, `[]`},
		{&statusv1.RaftConfigurationResponse{}, `{"Servers":[],"Index":0}`},
		{&statusv1.RaftConfigurationResponse{Index: 7, Servers: []*statusv1.RaftServer{{
			Id: "id-1", Node: "s1", Address: "10.0.0.1:8300", Leader: true, Voter: true, ProtocolVersion: "3", ReplicaId: 9,
		}}}, `{"Servers":[{"ID":"id-1","Node":"s1","Address":"10.0.0.1:8300","Leader":true,"Voter":true,"ProtocolVersion":"3"}],"Index":7}`},
	}
	for _, tt := range tests {
		body, ok := operatorView(tt.msg)
		if !ok {
			t.Fatalf("%T: no view", tt.msg)
		}
		b, err := json.Marshal(body)
		if err != nil || string(b) != tt.want {
			t.Errorf("%T: %s %v, want %s", tt.msg, b, err, tt.want)
		}
	}
	if body, ok := operatorView(&statusv1.RemovePeerResponse{}); !ok || body != (emptyBody{}) {
		t.Errorf("remove peer: %v %v", body, ok)
	}
}
