// Package text is the one rule for text that people type: every form field,
// query parameter and domain input goes through Check before it is stored,
// searched for or shown to someone else.
//
// The rule refuses, and never rewrites: bytes that are not UTF-8 (PostgreSQL
// would refuse them, and a silent U+FFFD would store something nobody typed),
// control characters (NUL is refused by PostgreSQL as SQLSTATE 22021; the
// others break lines, logs and CSV), and in names the invisible format
// characters (Unicode Cf) that can hide a name or reverse the text after it.
package text

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Options says what one field accepts.
type Options struct {
	// Label names the field in messages, like "The name"; "This field" when empty.
	Label string
	// Max is the most characters (runes) allowed; 0 means no limit.
	Max int
	// Multiline allows line breaks (\n, \r\n, U+2028, U+2029) and tabs, for
	// descriptions and other text shown as paragraphs.
	Multiline bool
	// Name refuses format characters (Unicode category Cf: U+200B, U+202E,
	// U+2066…U+2069, U+FEFF, …): a name is shown as a label or a link, where
	// an invisible or direction-changing character misleads whoever reads it.
	Name bool
}

// Check returns nil when s is acceptable under o, or an error whose message
// is a sentence for the person who typed it, naming the field and the first
// character that is refused.
func Check(s string, o Options) error {
	label := o.Label
	if label == "" {
		label = "This field"
	}
	if !utf8.ValidString(s) {
		return errors.New(label + " contains bytes that are not valid text (UTF-8).")
	}
	n := 0
	for i, r := range s {
		n++
		switch {
		case r == '\n' || r == '\t' || r == '\u2028' || r == '\u2029' || (r == '\r' && i+1 < len(s) && s[i+1] == '\n'):
			if !o.Multiline {
				return fmt.Errorf("%s must be on one line, without tabs (it contains %U).", label, r)
			}
		case unicode.IsControl(r):
			return fmt.Errorf("%s contains a control character (%U), which is not allowed.", label, r)
		case o.Name && unicode.Is(unicode.Cf, r):
			return fmt.Errorf("%s contains an invisible formatting character (%U), which is not allowed in names.", label, r)
		}
	}
	if o.Max > 0 && n > o.Max {
		return fmt.Errorf("%s can be at most %d characters.", label, o.Max)
	}
	return nil
}
