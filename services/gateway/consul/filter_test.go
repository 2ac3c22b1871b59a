package consul

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	bexpr "github.com/hashicorp/go-bexpr"
	"github.com/hashicorp/go-bexpr/grammar"
)

func entry() *ServiceEntry {
	return &ServiceEntry{
		Node: &Node{Node: "n1", Address: "10.0.0.1", Datacenter: "dc1",
			Meta: map[string]string{"env": "prod", "rack": "r1"}, TaggedAddresses: map[string]string{"lan": "10.0.0.1"}},
		Service: &AgentService{ID: "web1", Service: "web", Tags: []string{"v1", "primary"}, Port: 80,
			Meta: map[string]string{"version": "1.2"}, Weights: DefaultWeights,
			TaggedAddresses: map[string]ServiceAddress{"wan": {Address: "1.2.3.4", Port: 443}}},
		Checks: []*HealthCheck{
			{Node: "n1", CheckID: "serfHealth", Status: "passing", ServiceTags: []string{}},
			{Node: "n1", CheckID: "service:web1", Status: "critical", ServiceID: "web1", ServiceTags: []string{"v1"}},
		},
	}
}

func TestMatcherServiceEntry(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		{`Service.Service == web`, true},
		{`Service.Service == "web"`, true},
		{`Service.Service != web`, false},
		{`v1 in Service.Tags`, true},
		{`Service.Tags contains "primary"`, true},
		{`Service.Tags not contains v2`, true},
		{`Service.Tags is empty`, false},
		{`Service.Port == 80`, true},
		{`Service.Weights.Passing == 1`, true},
		{`Service.Meta.version == "1.2"`, true},
		{`Service.Meta["version"] matches "^1\\."`, true},
		{`Service.TaggedAddresses.wan.Port == 443`, true},
		{`Node.Meta.env == prod`, true},
		{`Node.Meta.env == dev`, false},
		{`Node.Meta.missing == prod`, false},
		{`Node.Meta.missing != prod`, true},
		{`env in Node.Meta`, true},
		{`Node.Node matches "^n[0-9]$"`, true},
		{`Node.Node not matches "^n[0-9]$"`, false},
		// A selector through Checks holds when it holds for any check, as
		// in Consul.
		{`Checks.Status == passing`, true},
		{`Checks.Status == critical`, true},
		{`Checks.Status == warning`, false},
		{`Checks.Status != passing`, true},
		{`critical in Checks.Status`, true},
		{`Checks.ServiceTags contains v1`, true},
		{`Checks.ServiceTags is empty`, true},
		{`Checks is not empty`, true},
		{`Checks.0.CheckID == serfHealth`, true},
		{`not Checks.Status == critical`, false},
		{`Checks.Status == passing and Checks.CheckID == "service:web1"`, true},
		{`(Checks.Status == warning or Service.Port == 80) and Node.Meta.rack == r1`, true},
		// go-bexpr's own collection expressions work on the same shapes.
		{`all Checks as c { c.Status == passing }`, false},
		{`any Checks as c { c.Status == critical and c.ServiceID == web1 }`, true},
		{`all Service.Tags as t { t != v2 }`, true},
		{`any Node.Meta as k { k == rack }`, true},
		{`any Node.Meta as _, v { v == prod }`, true},
		{`any Checks.ServiceTags as t { t == v1 }`, true},
		{`"/Node/Meta/env" == prod`, true},
	}
	e := entry()
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			m, err := NewMatcher[*ServiceEntry](tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Match(e)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatcherErrors(t *testing.T) {
	tests := []struct {
		expr, wantErr string
	}{
		{`Service.Tags ==`, "Failed to create boolean expression evaluator"},
		{`Service.Service = web`, "Failed to create boolean expression evaluator"},
		{`(Service.Service == web`, "Failed to create boolean expression evaluator"},
		{`Service.Bogus == 1`, `Selector "Service.Bogus" is not valid`},
		{`Checks.Bogus == 1`, `Selector "Checks.Bogus" is not valid`},
		{`Node.Meta.env.x == 1`, `Selector "Node.Meta.env.x" is not valid`},
		{`Service.CreateIndex == 1`, `Selector "Service.CreateIndex" is not valid`},
		{`Checks.Definition.HTTP == x`, `Selector "Checks.Definition.HTTP" is not valid`},
		{`Service.Tags == v1`, `Invalid match operator "Equal" for selector "Service.Tags"`},
		{`Service.Port matches "8."`, `Invalid match operator "Matches" for selector "Service.Port"`},
		{`Service.Port is empty`, `Invalid match operator "Is Empty" for selector "Service.Port"`},
		{`x in Service.Port`, `Invalid match operator "In" for selector "Service.Port"`},
		{`Service.Port == eighty`, `Invalid value "eighty" for selector "Service.Port"`},
		{`Service.Service matches "("`, `Invalid value "(" for selector "Service.Service"`},
		{`any Service.Port as p { p == 1 }`, "Service.Port is not a list or a map"},
		{`any Checks as c { c.Bogus == 1 }`, `Selector "c.Bogus" is not valid`},
		{`any Service.Tags as i, i { i == 1 }`, "cannot be used as a placeholder for both"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := NewMatcher[*ServiceEntry](tt.expr)
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FilterError", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestFilterSelectorsPerShape(t *testing.T) {
	nodes := []*Node{
		{Node: "a", Meta: map[string]string{"env": "prod"}},
		{Node: "b", Meta: map[string]string{"env": "dev"}},
		{Node: "c"},
	}
	got, err := Filter(`Meta.env == prod or Node == c`, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Node != "a" || got[1].Node != "c" {
		t.Errorf("nodes: got %v", got)
	}

	services := []*CatalogService{
		{ServiceID: "w1", ServiceMeta: map[string]string{"version": "2"}, ServiceTags: []string{"v2"}, NodeMeta: map[string]string{}},
		{ServiceID: "w2", ServiceMeta: map[string]string{"version": "1"}, ServiceTags: []string{}, NodeMeta: map[string]string{"env": "prod"}},
	}
	for expr, want := range map[string]string{
		`ServiceMeta.version == "2"`:  "w1",
		`ServiceTags is empty`:        "w2",
		`NodeMeta.env == prod`:        "w2",
		`ServiceWeights.Passing == 0`: "w1,w2",
		`ServiceID != w1`:             "w2",
		`ServiceName == nothing`:      "",
	} {
		got, err := Filter(expr, services)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		var ids []string
		for _, s := range got {
			ids = append(ids, s.ServiceID)
		}
		if strings.Join(ids, ",") != want {
			t.Errorf("%s: got %v, want %s", expr, ids, want)
		}
	}

	checks := []*HealthCheck{{CheckID: "a", Status: "passing"}, {CheckID: "b", Status: "critical"}}
	got2, err := Filter(`Status == critical`, checks)
	if err != nil || len(got2) != 1 || got2[0].CheckID != "b" {
		t.Errorf("checks: %v %v", got2, err)
	}

	// An empty expression keeps everything; a result is never nil.
	all, err := Filter("", checks)
	if err != nil || len(all) != 2 {
		t.Errorf("empty filter: %v %v", all, err)
	}
	none, err := Filter[*HealthCheck](`Status == warning`, nil)
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("nothing to filter: %#v %v", none, err)
	}
	if _, err := Filter(`Status ==`, checks); err == nil {
		t.Error("a bad expression filtered")
	}
	// A bad selector is refused even with nothing to filter, as Consul
	// refuses it when it creates the filter.
	if _, err := Filter[*HealthCheck](`Bogus == 1`, nil); err == nil {
		t.Error("a bad selector was accepted")
	}
}

// TestQuote checks that any value survives printing into the rewritten
// expression.
func TestQuote(t *testing.T) {
	for _, s := range []string{
		"", "plain", "with space", `dq"uote`, "back`tick", "both`and\"", `back\slash"`, "cr\rlf\n", `\x22`, "ünï", "a\"b`c\\d\t",
	} {
		m, err := NewMatcher[*Node](`Node == ` + quote(s))
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		for _, other := range []string{s, s + "x"} {
			got, err := m.Match(&Node{Node: other})
			if err != nil {
				t.Fatal(err)
			}
			if got != (other == s) {
				t.Errorf("value %q: Node %q matched %v", s, other, got)
			}
		}
		// A key with the same characters.
		m, err = NewMatcher[*Node](`Meta[` + quote(s) + `] == x`)
		if err != nil {
			t.Errorf("key %q: %v", s, err)
			continue
		}
		if ok, err := m.Match(&Node{Meta: map[string]string{s: "x"}}); err != nil || !ok {
			t.Errorf("key %q: %v %v", s, ok, err)
		}
	}
}

// rewrite returns expr as the Matcher evaluates it.
func rewrite(t *testing.T, expr string) string {
	t.Helper()
	parsed, err := grammar.Parse("", []byte(expr))
	if err != nil {
		t.Fatal(err)
	}
	c := &compiler{root: reflect.TypeFor[*ServiceEntry]()}
	ast, err := c.expr(parsed.(grammar.Expression), nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printExpr(&b, ast)
	return b.String()
}

// TestRewrite checks the rewriting of selectors through lists, and that
// the rewritten expressions are go-bexpr syntax wherever they appear.
func TestRewrite(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`Checks.Status == passing`, "any Checks as tribuneElem1 { (tribuneElem1[`Status`] == `passing`) }"},
		{`v1 in Checks.ServiceTags`, "any Checks as tribuneElem1 { (`v1` in tribuneElem1[`ServiceTags`]) }"},
		{`Service.Tags is empty`, "Service[`Tags`] is empty"},
		{`not Node.Meta.env == "a b"`, "not (Node[`Meta`][`env`] == `a b`)"},
		{`all Checks as c { c.ServiceTags contains v1 }`, "all Checks as c { (`v1` in c[`ServiceTags`]) }"},
		{`any Checks.ServiceTags as _, t { t == v1 }`,
			"any Checks as tribuneElem1 { (any tribuneElem1[`ServiceTags`] as _, t { (t == `v1`) }) }"},
	}
	for _, tt := range tests {
		if got := rewrite(t, tt.expr); got != tt.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tt.expr, got, tt.want)
		}
	}
	for _, expr := range []string{
		`not Checks.Status == passing`,
		`Checks.Status == passing or Checks.Status == warning`,
		`Node.Node == a and (Checks.Status == passing or not Checks.Name == x)`,
		`(Checks.Status == passing) and (any Checks as c { c.Name == x })`,
	} {
		if _, err := bexpr.CreateEvaluator(rewrite(t, expr)); err != nil {
			t.Errorf("%s rewritten is not go-bexpr syntax: %v", expr, err)
		}
	}
}
