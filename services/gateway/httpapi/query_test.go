package httpapi

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

func TestQueryParserRegistry(t *testing.T) {
	stale := &queryv1.QueryOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE}
	tests := []struct {
		name  string
		query string
		msg   proto.Message // as the path parameters left it
		want  proto.Message
	}{
		{
			name:  "catalog services as Prometheus asks",
			query: "index=42&wait=120000ms&stale&node-meta=rack:r1&node-meta=env:prod&filter=" + url.QueryEscape(`ServiceTags contains "x"`),
			msg:   &registryv1.ListServicesRequest{},
			want: &registryv1.ListServicesRequest{
				NodeMeta: map[string]string{"rack": "r1", "env": "prod"},
				Filter:   `ServiceTags contains "x"`,
				Options: &queryv1.QueryOptions{MinIndex: 42, Wait: durationpb.New(120 * time.Second),
					Consistency: queryv1.Consistency_CONSISTENCY_STALE},
			},
		},
		{
			name:  "nodes: near, node-meta without a colon, dc",
			query: "near=_agent&node-meta=flag&node-meta=k:v:w&dc=dc1&consistent",
			msg:   &registryv1.ListNodesRequest{},
			want: &registryv1.ListNodesRequest{
				NodeMeta: map[string]string{"flag": "", "k": "v:w"},
				Options:  &queryv1.QueryOptions{Datacenter: "dc1", Consistency: queryv1.Consistency_CONSISTENCY_CONSISTENT},
				Near:     "_agent",
			},
		},
		{
			name:  "catalog service: repeated tags, path parameter kept",
			query: "tag=v1&tag=primary&stale",
			msg:   &registryv1.ServiceNodesRequest{Service: "web"},
			want:  &registryv1.ServiceNodesRequest{Service: "web", Tags: []string{"v1", "primary"}, Options: stale},
		},
		{
			name:  "catalog node",
			query: "filter=Port+%3D%3D+80&index=3",
			msg:   &registryv1.NodeServicesRequest{Node: "n1"},
			want:  &registryv1.NodeServicesRequest{Node: "n1", Filter: "Port == 80", Options: &queryv1.QueryOptions{MinIndex: 3}},
		},
		{
			name:  "health node",
			query: "stale",
			msg:   &registryv1.NodeChecksRequest{Node: "n1"},
			want:  &registryv1.NodeChecksRequest{Node: "n1", Options: stale},
		},
		{
			name:  "health checks",
			query: "node-meta=env:prod",
			msg:   &registryv1.ServiceChecksRequest{Service: "web"},
			want: &registryv1.ServiceChecksRequest{Service: "web", NodeMeta: map[string]string{"env": "prod"},
				Options: &queryv1.QueryOptions{}},
		},
		{
			name:  "health state",
			query: "index=9&wait=5s&filter=Status+%3D%3D+critical",
			msg:   &registryv1.ChecksInStateRequest{State: "any"},
			want: &registryv1.ChecksInStateRequest{State: "any", Filter: "Status == critical",
				Options: &queryv1.QueryOptions{MinIndex: 9, Wait: durationpb.New(5 * time.Second)}},
		},
		{
			name:  "health service without passing",
			query: "tag=a&tag=b",
			msg:   &registryv1.ServiceHealthRequest{Service: "web"},
			want:  &registryv1.ServiceHealthRequest{Service: "web", Tags: []string{"a", "b"}, Options: &queryv1.QueryOptions{}},
		},
	}
	for _, p := range []string{"passing", "passing=", "passing=1", "passing=true", "passing=T"} {
		tests = append(tests, struct {
			name  string
			query string
			msg   proto.Message
			want  proto.Message
		}{"health service ?" + p, p, &registryv1.ServiceHealthRequest{Service: "web"},
			&registryv1.ServiceHealthRequest{Service: "web", PassingOnly: true, Options: &queryv1.QueryOptions{}}})
	}
	for _, p := range []string{"passing=false", "passing=0"} {
		tests = append(tests, struct {
			name  string
			query string
			msg   proto.Message
			want  proto.Message
		}{"health service ?" + p, p, &registryv1.ServiceHealthRequest{Service: "web"},
			&registryv1.ServiceHealthRequest{Service: "web", Options: &queryv1.QueryOptions{}}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if err := (queryParser{}).Parse(tt.msg, v, nil); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(tt.msg, tt.want) {
				t.Errorf("got  %v\nwant %v", tt.msg, tt.want)
			}
		})
	}
}

func TestQueryParserRegistryErrors(t *testing.T) {
	tests := []struct {
		query   string
		msg     proto.Message
		wantErr string
	}{
		{"passing=yes", &registryv1.ServiceHealthRequest{}, "Invalid value for ?passing"},
		{"passing=2", &registryv1.ServiceHealthRequest{}, "Invalid value for ?passing"},
		{"index=abc", &registryv1.ListNodesRequest{}, "Invalid index"},
		{"index=-1", &registryv1.ServiceNodesRequest{}, "Invalid index"},
		{"wait=forever", &registryv1.ServiceHealthRequest{}, "Invalid wait time"},
		{"stale&consistent", &registryv1.ListServicesRequest{}, "Cannot specify ?stale with ?consistent, conflicting semantics."},
		{"stale&consistent", &registryv1.ChecksInStateRequest{}, "Cannot specify ?stale with ?consistent"},
		{"index=x", &registryv1.NodeServicesRequest{}, "Invalid index"},
		{"wait=1", &registryv1.NodeChecksRequest{}, "Invalid wait time"},
		{"index=1.5", &registryv1.ServiceChecksRequest{}, "Invalid index"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.query)
			err := (queryParser{}).Parse(tt.msg, v, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
