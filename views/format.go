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

// Counted is a count with its noun: "1 product", "12,480 products".
func Counted(n int64, noun string) string { return Count(n) + " " + Noun(n, noun) }

// Noun is the noun for n of them; it takes an s unless there is one (the
// shop's nouns are all regular).
func Noun(n int64, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// The one place that formats times for pages and JSON. The shop's zone is
// the process's zone (serve sets it from SHOP_TIMEZONE), so time.Local is it.

// When formats a time in the shop's zone, the zone named: 2026-12-07 21:00 KST.
func When(t time.Time) string { return whenIn(t, time.Local) }

func whenIn(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

// Window formats a claim window: "2026-12-07 21:00–23:00 KST" within a
// day, both ends in full otherwise.
func Window(from, to time.Time) string { return windowIn(from, to, time.Local) }

func windowIn(from, to time.Time, loc *time.Location) string {
	from, to = from.In(loc), to.In(loc)
	if from.Format("2006-01-02 MST") == to.Format("2006-01-02 MST") {
		return from.Format("2006-01-02 15:04") + "–" + to.Format("15:04 MST")
	}
	return whenIn(from, loc) + " – " + whenIn(to, loc)
}

// JSONTime is a time in JSON: RFC 3339 with the shop's offset.
func JSONTime(t time.Time) string { return t.In(time.Local).Format(time.RFC3339) }

// FormTime is a time as an HTML datetime-local value, in the shop's zone:
// what the campaign form shows and reads back (coupon.ParseTime).
func FormTime(t time.Time) string { return t.In(time.Local).Format("2006-01-02T15:04") }

// ZoneName names the shop's zone for forms: "Asia/Seoul (KST)".
func ZoneName() string {
	abbr, _ := time.Now().In(time.Local).Zone()
	return time.Local.String() + " (" + abbr + ")"
}

// Until says how long is left, as "2 h 13 min" ("" once over). Countdown
// script static/sale.js writes the same words as time passes.
func Until(d time.Duration) string {
	if d <= 0 {
		return ""
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

// Countdown is the time to an opening: "04:59" within the hour (minutes and
// seconds, the way a sale counts down), Until's words beyond it.
func Countdown(d time.Duration) string {
	if d <= 0 {
		return "00:00"
	}
	s := int64((d + time.Second - 1) / time.Second) // a partial second still to wait counts
	if s >= 3600 {
		return Until(d)
	}
	return pad2(s/60) + ":" + pad2(s%60)
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// itemsWord is the unit after a count, for screen readers: " item" or " items".
func itemsWord(n int64) string {
	if n == 1 {
		return " item"
	}
	return " items"
}
