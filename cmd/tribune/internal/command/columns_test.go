package command

import "testing"

func TestColumnize(t *testing.T) {
	tests := []struct {
		name string
		rows [][]string
		want string
	}{
		{name: "empty", rows: nil, want: ""},
		{name: "one column", rows: [][]string{{"a"}, {"bcd"}}, want: "a\nbcd"},
		{name: "trimmed and padded", rows: [][]string{{" a ", "bb", "c"}, {"dddd", "e", "ff"}},
			want: "a     bb  c\ndddd  e   ff"},
		{name: "runes", rows: [][]string{{"nœud", "x"}, {"n", "y"}}, want: "nœud  x\nn     y"},
		{name: "empty last cell keeps glue", rows: [][]string{{"a", ""}, {"bb", "c"}}, want: "a   \nbb  c"},
		{name: "short row", rows: [][]string{{"a", "b", "c"}, {"dddd"}}, want: "a     b  c\ndddd"},
		{name: "unit separator", rows: [][]string{{"a\x1fb", "c"}}, want: "a b  c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Columnize(tt.rows); got != tt.want {
				t.Errorf("Columnize = %q, want %q", got, tt.want)
			}
		})
	}
}
