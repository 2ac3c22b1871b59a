package consul

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	bexpr "github.com/hashicorp/go-bexpr"
	"github.com/hashicorp/go-bexpr/grammar"
)

// Consul evaluates ?filter with go-bexpr v0.1.2, whose evaluator knows the
// element type: it refuses a selector the type does not have when the
// filter is created, and a selector that goes through a list of records
// (Checks.Status on a health entry) matches when the operation holds for
// any element of the list. Later go-bexpr versions evaluate JSON pointers
// on the value instead and have neither behaviour, so a Matcher checks the
// expression against the element type and rewrites each selector that
// goes through a list into go-bexpr's own "any" expression:
//
//	Checks.Status == passing   =>   any Checks as e0 { e0.Status == passing }
//
// then evaluates the rewritten expression with go-bexpr.

// FilterError is a ?filter expression that cannot be used: bad syntax, a
// selector the elements do not have, an operator the selected field does
// not take, or a value that does not fit it. It is the caller's mistake
// (HTTP 400).
type FilterError struct {
	msg string
}

func (e *FilterError) Error() string { return e.msg }

func filterErrorf(format string, args ...any) error {
	return &FilterError{msg: fmt.Sprintf(format, args...)}
}

// Matcher is a compiled filter for elements of type T. It is not safe for
// concurrent use (go-bexpr caches compiled regular expressions in place):
// compile one per request.
type Matcher[T any] struct {
	eval *bexpr.Evaluator
}

// NewMatcher compiles expr for elements of type T. An empty expr gives a
// nil Matcher, which matches every element.
func NewMatcher[T any](expr string) (*Matcher[T], error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	parsed, err := grammar.Parse("", []byte(expr), grammar.MaxExpressions(maxExpressions))
	if err != nil {
		return nil, filterErrorf("Failed to create boolean expression evaluator: %v", err)
	}
	c := &compiler{root: reflect.TypeFor[T]()}
	ast, err := c.expr(parsed.(grammar.Expression), nil)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	printExpr(&b, ast)
	eval, err := bexpr.CreateEvaluator(b.String(), bexpr.WithMaxExpressions(maxExpressions))
	if err != nil {
		// The rewritten expression is built to parse; this is a bug.
		return nil, fmt.Errorf("consul: rewritten filter %q does not parse: %w", b.String(), err)
	}
	return &Matcher[T]{eval: eval}, nil
}

// maxExpressions bounds the parser's work on one expression.
const maxExpressions = 100000

// Match reports whether v passes the filter.
func (m *Matcher[T]) Match(v T) (bool, error) {
	if m == nil {
		return true, nil
	}
	ok, err := m.eval.Evaluate(v)
	if err != nil {
		return false, filterErrorf("Failed to evaluate filter: %v", err)
	}
	return ok, nil
}

// Filter returns the elements that match expr, in order; all of them for
// an empty expr. The result is never nil.
func Filter[T any](expr string, elems []T) ([]T, error) {
	m, err := NewMatcher[T](expr)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(elems))
	for _, e := range elems {
		ok, err := m.Match(e)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// binding is what a collection's name stands for: an element or map value
// (selectors may go on from it), or a key or index (a leaf).
type binding struct {
	t    reflect.Type
	path bool
}

type scope map[string]binding

func (s scope) with(name string, b binding) scope {
	out := make(scope, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	out[name] = b
	return out
}

type compiler struct {
	root reflect.Type
	n    int
}

// fresh returns a name for a generated collection binding; no element
// field has this name.
func (c *compiler) fresh() string {
	c.n++
	return "tribuneElem" + strconv.Itoa(c.n)
}

func (c *compiler) expr(e grammar.Expression, sc scope) (grammar.Expression, error) {
	switch e := e.(type) {
	case *grammar.UnaryExpression:
		op, err := c.expr(e.Operand, sc)
		if err != nil {
			return nil, err
		}
		return &grammar.UnaryExpression{Operator: e.Operator, Operand: op}, nil
	case *grammar.BinaryExpression:
		l, err := c.expr(e.Left, sc)
		if err != nil {
			return nil, err
		}
		r, err := c.expr(e.Right, sc)
		if err != nil {
			return nil, err
		}
		return &grammar.BinaryExpression{Left: l, Operator: e.Operator, Right: r}, nil
	case *grammar.MatchExpression:
		return c.match(e, sc, e.Selector.String())
	case *grammar.CollectionExpression:
		return c.collection(e, sc, e.Selector.String())
	}
	return nil, filterErrorf("Unsupported filter expression %T", e)
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// field returns the selectable field name of struct t.
func field(t reflect.Type, name string) (reflect.StructField, bool) {
	f, ok := t.FieldByName(name)
	if !ok || !f.IsExported() || len(f.Index) != 1 || f.Tag.Get("bexpr") == "-" {
		return reflect.StructField{}, false
	}
	return f, true
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// resolve checks path from its root (a name in scope, or the element) and
// returns the type it selects. When path goes through a list of records,
// split is the length of the prefix selecting that list (the first one);
// otherwise -1.
func (c *compiler) resolve(path []string, sc scope, orig string) (t reflect.Type, split int, err error) {
	invalid := filterErrorf("Selector %q is not valid", orig)
	if len(path) == 0 {
		return nil, -1, invalid
	}
	t, start := c.root, 0
	if b, ok := sc[path[0]]; ok {
		if !b.path && len(path) > 1 {
			return nil, -1, invalid
		}
		t, start = b.t, 1
	}
	split = -1
	for i := start; i < len(path); i++ {
		t = deref(t)
		switch t.Kind() {
		case reflect.Struct:
			f, ok := field(t, path[i])
			if !ok {
				return nil, -1, invalid
			}
			t = f.Type
		case reflect.Map:
			if t.Key().Kind() != reflect.String {
				return nil, -1, invalid
			}
			t = t.Elem()
		case reflect.Slice, reflect.Array:
			if isIndex(path[i]) {
				t = t.Elem()
				continue
			}
			// Selecting into the elements: any of them.
			if split < 0 {
				split = i
			}
			t = t.Elem()
			i-- // the same part selects in the element
		default:
			return nil, -1, invalid
		}
	}
	return deref(t), split, nil
}

// listSelector is the selector of the list path[:split], whose elements
// the rest of path selects in.
func listSelector(path []string, split int) grammar.Selector {
	return grammar.Selector{Type: grammar.SelectorTypeBexpr, Path: append([]string(nil), path[:split]...)}
}

func elemSelector(name string, path []string, split int) grammar.Selector {
	return grammar.Selector{Type: grammar.SelectorTypeBexpr, Path: append([]string{name}, path[split:]...)}
}

// listElem returns the element type of the list path[:split] selects.
func (c *compiler) listElem(path []string, split int, sc scope, orig string) (reflect.Type, error) {
	t, _, err := c.resolve(path[:split], sc, orig)
	if err != nil {
		return nil, err
	}
	return t.Elem(), nil
}

func (c *compiler) match(m *grammar.MatchExpression, sc scope, orig string) (grammar.Expression, error) {
	t, split, err := c.resolve(m.Selector.Path, sc, orig)
	if err != nil {
		return nil, err
	}
	if split >= 0 {
		elem, err := c.listElem(m.Selector.Path, split, sc, orig)
		if err != nil {
			return nil, err
		}
		name := c.fresh()
		inner, err := c.match(&grammar.MatchExpression{
			Selector: elemSelector(name, m.Selector.Path, split),
			Operator: m.Operator,
			Value:    m.Value,
		}, sc.with(name, binding{t: elem, path: true}), orig)
		if err != nil {
			return nil, err
		}
		return &grammar.CollectionExpression{
			Op:          grammar.CollectionOpAny,
			Selector:    listSelector(m.Selector.Path, split),
			NameBinding: grammar.CollectionNameBinding{Mode: grammar.CollectionBindDefault, Default: name},
			Inner:       inner,
		}, nil
	}
	if err := checkOperation(m, t, orig); err != nil {
		return nil, err
	}
	return m, nil
}

func primitive(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// coerce checks that raw is a value of kind k, as go-bexpr converts it.
func coerce(raw string, k reflect.Kind) error {
	var err error
	switch k {
	case reflect.Bool:
		_, err = bexpr.CoerceBool(raw)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err = bexpr.CoerceInt64(raw)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err = bexpr.CoerceUint64(raw)
	case reflect.Float32:
		_, err = bexpr.CoerceFloat32(raw)
	case reflect.Float64:
		_, err = bexpr.CoerceFloat64(raw)
	}
	return err
}

// checkOperation checks that the operator applies to a field of type t and
// that the value fits it, as Consul's go-bexpr does before evaluating.
func checkOperation(m *grammar.MatchExpression, t reflect.Type, orig string) error {
	k := t.Kind()
	unsupported := filterErrorf("Invalid match operator %q for selector %q of type %s", m.Operator, orig, t)
	badValue := func(err error) error {
		return filterErrorf("Invalid value %q for selector %q of type %s: %v", m.Value.Raw, orig, t, err)
	}
	switch m.Operator {
	case grammar.MatchEqual, grammar.MatchNotEqual:
		if !primitive(k) {
			return unsupported
		}
		if err := coerce(m.Value.Raw, k); err != nil {
			return badValue(err)
		}
	case grammar.MatchMatches, grammar.MatchNotMatches:
		if k != reflect.String {
			return unsupported
		}
		if _, err := regexp.Compile(m.Value.Raw); err != nil {
			return badValue(err)
		}
	case grammar.MatchIn, grammar.MatchNotIn:
		switch k {
		case reflect.String:
		case reflect.Map:
			if t.Key().Kind() != reflect.String {
				return unsupported
			}
		case reflect.Slice, reflect.Array:
			ek := deref(t.Elem()).Kind()
			if !primitive(ek) {
				return unsupported
			}
			if err := coerce(m.Value.Raw, ek); err != nil {
				return badValue(err)
			}
		default:
			return unsupported
		}
	case grammar.MatchIsEmpty, grammar.MatchIsNotEmpty:
		switch k {
		case reflect.String, reflect.Map, reflect.Slice, reflect.Array:
		default:
			return unsupported
		}
	default:
		return unsupported
	}
	return nil
}

func (c *compiler) collection(e *grammar.CollectionExpression, sc scope, orig string) (grammar.Expression, error) {
	t, split, err := c.resolve(e.Selector.Path, sc, orig)
	if err != nil {
		return nil, err
	}
	if split >= 0 {
		// any Checks.ServiceTags as t { ... } applies to the tags of any
		// check: any Checks as e { any e.ServiceTags as t { ... } }.
		elem, err := c.listElem(e.Selector.Path, split, sc, orig)
		if err != nil {
			return nil, err
		}
		name := c.fresh()
		inner, err := c.collection(&grammar.CollectionExpression{
			Op:          e.Op,
			Selector:    elemSelector(name, e.Selector.Path, split),
			NameBinding: e.NameBinding,
			Inner:       e.Inner,
		}, sc.with(name, binding{t: elem, path: true}), orig)
		if err != nil {
			return nil, err
		}
		return &grammar.CollectionExpression{
			Op:          grammar.CollectionOpAny,
			Selector:    listSelector(e.Selector.Path, split),
			NameBinding: grammar.CollectionNameBinding{Mode: grammar.CollectionBindDefault, Default: name},
			Inner:       inner,
		}, nil
	}
	var key, value binding
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		key, value = binding{t: reflect.TypeFor[int]()}, binding{t: t.Elem(), path: true}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, filterErrorf("%s can only iterate over maps indexed with strings", e.Op)
		}
		key, value = binding{t: t.Key()}, binding{t: t.Elem(), path: true}
	default:
		return nil, filterErrorf("%s is not a list or a map", orig)
	}
	nb := e.NameBinding
	inner := sc
	switch nb.Mode {
	case grammar.CollectionBindDefault:
		// A list's default name is its element, a map's its key.
		if t.Kind() == reflect.Map {
			inner = inner.with(nb.Default, key)
		} else {
			inner = inner.with(nb.Default, value)
		}
	case grammar.CollectionBindIndex:
		inner = inner.with(nb.Index, key)
	case grammar.CollectionBindValue:
		inner = inner.with(nb.Value, value)
	case grammar.CollectionBindIndexAndValue:
		if nb.Index == nb.Value {
			return nil, filterErrorf("%q cannot be used as a placeholder for both the index and the value", nb.Index)
		}
		inner = inner.with(nb.Index, key).with(nb.Value, value)
	}
	body, err := c.expr(e.Inner, inner)
	if err != nil {
		return nil, err
	}
	return &grammar.CollectionExpression{Op: e.Op, Selector: e.Selector, NameBinding: nb, Inner: body}, nil
}

// printExpr writes e in go-bexpr's syntax, every operand parenthesized.
func printExpr(b *strings.Builder, e grammar.Expression) {
	switch e := e.(type) {
	case *grammar.UnaryExpression:
		b.WriteString("not (")
		printExpr(b, e.Operand)
		b.WriteString(")")
	case *grammar.BinaryExpression:
		b.WriteString("(")
		printExpr(b, e.Left)
		if e.Operator == grammar.BinaryOpAnd {
			b.WriteString(") and (")
		} else {
			b.WriteString(") or (")
		}
		printExpr(b, e.Right)
		b.WriteString(")")
	case *grammar.MatchExpression:
		sel := printSelector(e.Selector)
		switch e.Operator {
		case grammar.MatchEqual:
			b.WriteString(sel + " == " + quote(e.Value.Raw))
		case grammar.MatchNotEqual:
			b.WriteString(sel + " != " + quote(e.Value.Raw))
		case grammar.MatchIn:
			b.WriteString(quote(e.Value.Raw) + " in " + sel)
		case grammar.MatchNotIn:
			b.WriteString(quote(e.Value.Raw) + " not in " + sel)
		case grammar.MatchIsEmpty:
			b.WriteString(sel + " is empty")
		case grammar.MatchIsNotEmpty:
			b.WriteString(sel + " is not empty")
		case grammar.MatchMatches:
			b.WriteString(sel + " matches " + quote(e.Value.Raw))
		case grammar.MatchNotMatches:
			b.WriteString(sel + " not matches " + quote(e.Value.Raw))
		}
	case *grammar.CollectionExpression:
		if e.Op == grammar.CollectionOpAll {
			b.WriteString("all ")
		} else {
			b.WriteString("any ")
		}
		b.WriteString(printSelector(e.Selector) + " as ")
		nb := e.NameBinding
		switch nb.Mode {
		case grammar.CollectionBindIndex:
			b.WriteString(nb.Index + ", _")
		case grammar.CollectionBindValue:
			b.WriteString("_, " + nb.Value)
		case grammar.CollectionBindIndexAndValue:
			b.WriteString(nb.Index + ", " + nb.Value)
		default:
			b.WriteString(nb.Default)
		}
		b.WriteString(" { (")
		printExpr(b, e.Inner)
		b.WriteString(") }")
	}
}

// printSelector writes a selector as its first name followed by an index
// expression for each further part, which takes any key.
func printSelector(s grammar.Selector) string {
	var b strings.Builder
	b.WriteString(s.Path[0])
	for _, p := range s.Path[1:] {
		b.WriteString("[" + quote(p) + "]")
	}
	return b.String()
}

// quote writes s as a go-bexpr string literal: raw (backquoted) when it
// can be, else double-quoted with every double quote escaped, since the
// grammar ends a double-quoted string at the first '"' whatever precedes it.
func quote(s string) string {
	if !strings.ContainsAny(s, "`\r") {
		return "`" + s + "`"
	}
	return strings.ReplaceAll(strconv.Quote(s), `\"`, `\x22`)
}
