package command

import (
	"strings"
	"unicode/utf8"
)

// unitSeparator is the ASCII unit separator. Consul's CLI joins a row's
// cells with it and columnize splits them again, so a cell holding one
// spills into the next columns there; Columnize makes it a space.
const unitSeparator = "\x1f"

// Columnize aligns rows as github.com/ryanuber/columnize's Format does
// with its default configuration, which Consul's CLI uses for tables:
// cells are trimmed, every column but a row's last is padded to the
// column's widest cell and followed by two spaces, and the result has no
// final newline.
func Columnize(rows [][]string) string {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			l := utf8.RuneCountInString(cleanCell(cell))
			if i >= len(widths) {
				widths = append(widths, l)
			} else if l > widths[i] {
				widths[i] = l
			}
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			cell = cleanCell(cell)
			b.WriteString(cell)
			if i == len(row)-1 {
				b.WriteByte('\n')
				continue
			}
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)))
			b.WriteString("  ")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// cleanCell trims a cell as columnize does.
func cleanCell(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, unitSeparator, " "))
}
