package text

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	line := Options{Label: "The reason", Max: 10}
	name := Options{Label: "The name", Max: 10, Name: true}
	para := Options{Label: "The description", Max: 10, Multiline: true}
	tests := []struct {
		rule    string
		in      string
		o       Options
		refused string // a part of the message, "" when accepted
	}{
		{"plain text passes", "Ann Lee", name, ""},
		{"Korean counts characters, not bytes", "가나다라마바사아자차", name, ""},
		{"emoji without joiners pass in names", "🙂 shop", name, ""},
		{"the empty string passes (required is the caller's rule)", "", name, ""},
		{"invalid UTF-8 is refused, not rewritten", "a\xffb", line, "not valid text"},
		{"a lone continuation byte is refused", "\x80", line, "not valid text"},
		{"NUL is refused", "a\x00b", para, "control character (U+0000)"},
		{"DEL is refused", "a\x7f", line, "control character (U+007F)"},
		{"C1 controls are refused", "a\u0085", para, "control character (U+0085)"},
		{"a lone carriage return is refused", "a\rb", para, "control character (U+000D)"},
		{"newline is refused on one line", "a\nb", line, "on one line"},
		{"tab is refused on one line", "a\tb", line, "on one line"},
		{"line separator is refused on one line", "a\u2028b", line, "on one line"},
		{"newline, CRLF and tab pass in paragraphs", "a\nb\r\nc\td", para, ""},
		{"right-to-left override is refused in names", "moc.evil\u202e", name, "invisible formatting character (U+202E)"},
		{"zero-width space is refused in names", "\u200b", name, "(U+200B)"},
		{"isolates are refused in names", "a\u2066b", name, "(U+2066)"},
		{"a byte order mark is refused in names", "\ufeffAnn", name, "(U+FEFF)"},
		{"format characters pass where the field is not a name", "a\u200bb", line, ""},
		{"over the limit is refused", strings.Repeat("가", 11), name, "at most 10 characters"},
		{"at the limit passes", strings.Repeat("가", 10), name, ""},
		{"no label says this field", "\x00", Options{}, "This field contains"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			err := Check(tt.in, tt.o)
			switch {
			case tt.refused == "" && err != nil:
				t.Fatalf("Check(%q) = %v, want accepted", tt.in, err)
			case tt.refused != "" && err == nil:
				t.Fatalf("Check(%q) accepted, want refused with %q", tt.in, tt.refused)
			case err != nil && !strings.Contains(err.Error(), tt.refused):
				t.Fatalf("Check(%q) = %q, want it to say %q", tt.in, err, tt.refused)
			case err != nil && tt.o.Label != "" && !strings.HasPrefix(err.Error(), tt.o.Label):
				t.Fatalf("Check(%q) = %q, want it to name the field %q", tt.in, err, tt.o.Label)
			}
		})
	}
}

// FuzzCheck: whatever Check accepts is text PostgreSQL stores as it is: valid
// UTF-8, no NUL, within the limit.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"Ann", "a\x00", "\xff", "\u202e", "a\r\nb", "가나다"} {
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, s string, multiline, name bool) {
		o := Options{Max: 8, Multiline: multiline, Name: name}
		if Check(s, o) != nil {
			return
		}
		if strings.ContainsRune(s, 0) || strings.ToValidUTF8(s, "") != s || len([]rune(s)) > 8 {
			t.Fatalf("accepted %q with %+v", s, o)
		}
	})
}
