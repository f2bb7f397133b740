// Package views holds the templ components: layouts, pages and the fragments
// HTMX swaps. Components are pure functions of their arguments; the only
// things read from the context are the current user and flash messages.
package views

import (
	"strconv"
	"time"

	"market/internal/money"
)

// Won formats whole won as ₩12,900.
func Won(n int64) string { return money.Won(n) }

// Count formats an integer with thousands separators: 12,480.
func Count(n int64) string { return money.Count(n) }

// When formats a time in the server's zone.
func When(t time.Time) string {
	return t.Local().Format("2006-01-02 15:04")
}

// Until says how long is left, as "2 h 13 min".
func Until(d time.Duration) string {
	if d <= 0 {
		return "ended"
	}
	d = d.Round(time.Minute)
	h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
	switch {
	case h >= 48:
		return strconv.FormatInt(h/24, 10) + " days"
	case h > 0:
		return strconv.FormatInt(h, 10) + " h " + strconv.FormatInt(m, 10) + " min"
	case m > 0:
		return strconv.FormatInt(m, 10) + " min"
	default:
		return "less than a minute"
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// itemsWord is the unit after a count, for screen readers: " item" or " items".
func itemsWord(n int64) string {
	if n == 1 {
		return " item"
	}
	return " items"
}
