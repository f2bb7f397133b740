package catalog

import "testing"

// A category's slug keeps every letter a name has in a–z, accents dropped;
// a name with none of them has no slug (the form says so).
func TestSlugsKeepAccentedLetters(t *testing.T) {
	for in, want := range map[string]string{
		"Phones & Tablets": "phones-tablets",
		"Ümlaut Wares":     "umlaut-wares",
		"Café Crème":       "cafe-creme",
		"ＴＶ ＆ Ａｕｄｉｏ":       "tv-audio",
		"  4K -- Screens ": "4k-screens",
		"日本茶":              "",
		"Кофе":             "",
	} {
		if got := slugify(in); got != want {
			t.Errorf("slugify(%q) = %q, want %q", in, got, want)
		}
	}
}
