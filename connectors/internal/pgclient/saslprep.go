package pgclient

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// saslPrep prepares a password for SCRAM the way PostgreSQL prepares one it
// stores (SASLprep, RFC 4013, as pg_saslprep does): an ASCII password as it
// is; otherwise non-ASCII spaces become spaces, characters "commonly mapped
// to nothing" go, and the result is normalized to NFKC. A password that is
// not valid UTF-8, or that holds a prohibited character (controls, private
// use, non-characters, display-changing marks), is used as given, as
// PostgreSQL does. (Unassigned code points and the bidirectional rule are
// not checked.)
func saslPrep(password string) string {
	ascii := true
	for i := 0; i < len(password); i++ {
		if password[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii || !utf8.ValidString(password) {
		return password
	}
	var b strings.Builder
	for _, r := range password {
		switch {
		case inRanges(r, nonASCIISpace):
			b.WriteByte(' ')
		case inRanges(r, mappedToNothing):
		default:
			b.WriteRune(r)
		}
	}
	prepared := norm.NFKC.String(b.String())
	for _, r := range prepared {
		if inRanges(r, prohibited) {
			return password
		}
	}
	return prepared
}

func inRanges(r rune, ranges [][2]rune) bool {
	for _, rg := range ranges {
		if r >= rg[0] && r <= rg[1] {
			return true
		}
	}
	return false
}

// nonASCIISpace is RFC 3454's table C.1.2.
var nonASCIISpace = [][2]rune{{0x00A0, 0x00A0}, {0x1680, 0x1680}, {0x2000, 0x200B}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}}

// mappedToNothing is RFC 3454's table B.1.
var mappedToNothing = [][2]rune{{0x00AD, 0x00AD}, {0x034F, 0x034F}, {0x1806, 0x1806}, {0x180B, 0x180D}, {0x200B, 0x200D}, {0x2060, 0x2060}, {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF}}

// prohibited is RFC 4013's prohibited output: RFC 3454's tables C.1.2,
// C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8 and C.9.
var prohibited = [][2]rune{
	{0x0000, 0x001F}, {0x007F, 0x009F}, // C.2.1, C.2.2 (controls)
	{0x00A0, 0x00A0}, {0x1680, 0x1680}, {0x2000, 0x200B}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, // C.1.2
	{0x0340, 0x0341}, {0x06DD, 0x06DD}, {0x070F, 0x070F}, {0x180E, 0x180E}, {0x200C, 0x200F}, {0x2028, 0x202E}, // C.2.2, C.8
	{0x2060, 0x2063}, {0x206A, 0x206F}, {0x2FF0, 0x2FFB}, {0xD800, 0xDFFF}, {0xE000, 0xF8FF}, {0xFDD0, 0xFDEF}, // C.2.2, C.8, C.7, C.5, C.3, C.4
	{0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFF}, {0x1D173, 0x1D17A}, {0x1FFFE, 0x1FFFF}, {0x2FFFE, 0x2FFFF}, // C.2.2, C.6, C.4
	{0x3FFFE, 0x3FFFF}, {0x4FFFE, 0x4FFFF}, {0x5FFFE, 0x5FFFF}, {0x6FFFE, 0x6FFFF}, {0x7FFFE, 0x7FFFF},
	{0x8FFFE, 0x8FFFF}, {0x9FFFE, 0x9FFFF}, {0xAFFFE, 0xAFFFF}, {0xBFFFE, 0xBFFFF}, {0xCFFFE, 0xCFFFF},
	{0xDFFFE, 0xDFFFF}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F}, {0xEFFFE, 0x10FFFF}, // C.4, C.9, C.3 (planes 15-16)
}
