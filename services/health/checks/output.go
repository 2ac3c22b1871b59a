package checks

import (
	"strings"
	"unicode/utf8"
)

// Outputs end up in proto string fields, which must hold valid UTF-8 (a
// Go proto refuses to marshal anything else), so cuts fall between
// characters and invalid bytes, such as a binary HTTP body's, become
// U+FFFD.

// validUTF8 replaces each run of invalid bytes in s with U+FFFD.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// head is the first n bytes of s or fewer, not splitting a character.
func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// dropPartialLast drops a character cut short at the end of b.
func dropPartialLast(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

// dropPartialFirst drops a character cut short at the start of b.
func dropPartialFirst(b []byte) []byte {
	i := 0
	for i < len(b) && i < utf8.UTFMax-1 && !utf8.RuneStart(b[i]) {
		i++
	}
	return b[i:]
}
