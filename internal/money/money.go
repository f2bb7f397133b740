// Package money formats whole numbers the way the shop shows them: counts
// with thousands separators (12,480) and won with its sign (₩12,900). The
// won has no minor unit, so every amount is an int64 of whole won.
package money

import "strconv"

// Count formats an integer with thousands separators: 12,480.
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// Won formats whole won as ₩12,900 (and -₩1,500).
func Won(n int64) string {
	if n < 0 {
		return "-₩" + Count(-n)
	}
	return "₩" + Count(n)
}
