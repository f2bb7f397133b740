package room

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"market/internal/errs"
)

// Error codes of the room's refusals (docs/HTTP.md, "Waiting room").
const (
	CodeWaiting       errs.Code = "waiting_room"
	CodeTicketInvalid errs.Code = "ticket_invalid"
	CodeTicketExpired errs.Code = "ticket_expired"
)

var (
	// ErrTicketInvalid refuses a ticket that is not this shop's, or not for
	// this session, shopper and campaign.
	ErrTicketInvalid = errs.New(CodeTicketInvalid, "This waiting room ticket is not valid here. Press Claim to take a place in line.")
	errTicketExpired = errs.New(CodeTicketExpired, "Your turn to claim has passed. Go back to the coupons page and press Claim for a new place in line.")
)

// Ticket is one session's place in a campaign's line. Token is what the
// shopper carries: the fields below, signed, so that any instance can check
// it without asking Redis.
type Ticket struct {
	Campaign int64
	User     int64
	Session  string
	Seq      int64     // the ticket's number: arrival order
	AdmitAt  time.Time // the moment its turn comes (Redis's clock)
	Token    string
	window   time.Duration
}

// AdmittedAt reports whether the ticket lets its holder claim at now.
func (t Ticket) AdmittedAt(now time.Time) bool {
	return t.Token != "" && !now.Before(t.AdmitAt) && !t.ExpiredAt(now)
}

// ExpiredAt reports whether the ticket's turn has come and gone.
func (t Ticket) ExpiredAt(now time.Time) bool { return now.After(t.AdmitAt.Add(t.window)) }

// Wait is the time until the ticket's turn, 0 once it has come.
func (t Ticket) Wait(now time.Time) time.Duration { return max(0, t.AdmitAt.Sub(now)) }

// Place is the ticket's place in line at now: 1 is next, 0 is admitted.
// Each place ahead is one admission interval, so the place is exact, not a
// guess, for as long as the rate stays as configured.
func (r *Room) Place(t Ticket, now time.Time) int64 {
	w := t.Wait(now)
	if w == 0 {
		return 0
	}
	return int64((w + r.interval - 1) / r.interval)
}

// KeyFrom derives the ticket key from the session secret, so that tickets
// need no secret of their own and no other use of the secret can forge one.
func KeyFrom(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("room-ticket"))
	return m.Sum(nil)
}

// sign fills the ticket's token: campaign.user.session.seq.admit_µs,
// base64url, then an HMAC-SHA256 of it.
func (r *Room) sign(t Ticket) Ticket {
	payload := strings.Join([]string{strconv.FormatInt(t.Campaign, 10), strconv.FormatInt(t.User, 10), t.Session,
		strconv.FormatInt(t.Seq, 10), strconv.FormatInt(t.AdmitAt.UnixMicro(), 10)}, ".")
	body := base64.RawURLEncoding.EncodeToString([]byte(payload))
	t.Token = body + "." + base64.RawURLEncoding.EncodeToString(r.mac(body))
	t.window = r.o.Window
	return t
}

func (r *Room) mac(body string) []byte {
	m := hmac.New(sha256.New, r.o.Key)
	m.Write([]byte("room-ticket/v1:"))
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Open reads a token the shopper presents for a claim on campaignID: it must
// be signed by this shop, for this campaign and this signed-in session. The
// ticket may still be waiting (AdmittedAt says); one whose turn has passed
// is refused as expired, anything else as invalid. Nothing is asked of Redis.
func (r *Room) Open(token string, campaignID, userID int64, session string, now time.Time) (Ticket, error) {
	body, sig, ok := strings.Cut(token, ".")
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, r.mac(body)) {
		return Ticket{}, ErrTicketInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Ticket{}, ErrTicketInvalid
	}
	f := strings.Split(string(raw), ".")
	if len(f) != 5 {
		return Ticket{}, ErrTicketInvalid
	}
	c, err1 := strconv.ParseInt(f[0], 10, 64)
	u, err2 := strconv.ParseInt(f[1], 10, 64)
	seq, err3 := strconv.ParseInt(f[3], 10, 64)
	at, err4 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || c != campaignID || u != userID || f[2] != session || session == "" {
		return Ticket{}, ErrTicketInvalid
	}
	t := Ticket{Campaign: c, User: u, Session: f[2], Seq: seq, AdmitAt: time.UnixMicro(at), Token: token, window: r.o.Window}
	if t.ExpiredAt(now) {
		return Ticket{}, errTicketExpired
	}
	return t, nil
}
