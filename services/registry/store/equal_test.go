package store

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// TestSameNode holds sameNode to proto.Equal: for a change in each of
// Node's fields, found through its descriptor so that a new field cannot
// be missed, and for the differences proto.Equal does not see.
func TestSameNode(t *testing.T) {
	base := func() *registryv1.Node {
		return &registryv1.Node{
			Id: "b9c1a1e2-4b1c-4f5e-9a41-7c1d2e3f4a5b", Node: "n1", Address: "10.0.0.1", Datacenter: "dc1",
			TaggedAddresses: map[string]string{"lan": "10.0.0.1"}, Meta: map[string]string{"rack": "r1"},
			CreateIndex: 3, ModifyIndex: 5,
		}
	}
	check := func(name string, a, b *registryv1.Node) {
		t.Helper()
		if got, want := sameNode(a, b), proto.Equal(a, b); got != want {
			t.Errorf("%s: sameNode = %v, proto.Equal = %v", name, got, want)
		}
	}

	check("identical", base(), base())
	fields := base().ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		changed := base()
		m := changed.ProtoReflect()
		switch {
		case fd.IsMap():
			m.Mutable(fd).Map().Set(protoreflect.ValueOfString("added").MapKey(), protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(m.Get(fd).String()+"x"))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(m.Get(fd).Uint()+1))
		default:
			t.Fatalf("field %s is a %v: teach this test to change it, and sameNode to compare it", fd.Name(), fd.Kind())
		}
		if proto.Equal(base(), changed) {
			t.Fatalf("field %s: the change made no difference", fd.Name())
		}
		check("changed "+string(fd.Name()), base(), changed)
	}

	empty, none := base(), base()
	empty.TaggedAddresses, empty.Meta = map[string]string{}, map[string]string{}
	none.TaggedAddresses, none.Meta = nil, nil
	check("empty and nil maps", empty, none)

	unknown := base()
	unknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	check("a field of a newer server", base(), unknown)
}
