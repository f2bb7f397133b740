package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"market/internal/coupon"
	"market/internal/errs"
	"market/internal/reqctx"
	"market/internal/room"
	"market/views"
)

func (s *Server) couponRoutes(r chi.Router) {
	r.Get("/coupons", s.h(s.coupons))
	r.Get("/coupons/live", s.h(s.liveCounts))
	r.With(s.requireUser).Post("/coupons/{campaignID}/claim", s.h(s.claimCoupon))
	r.With(s.requireUser).Get("/coupons/{campaignID}/room", s.h(s.roomPage))
}

// saleJSON is a campaign in shoppers' JSON (docs/HTTP.md, / and /coupons).
type saleJSON struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Discount  string `json:"discount"`
	Status    string `json:"status"`
	StartsAt  string `json:"starts_at"`
	EndsAt    string `json:"ends_at"`
	Remaining int64  `json:"remaining"`
	Total     int64  `json:"total_quantity"`
}

// saleBoard turns the campaigns shoppers see into cards and JSON; held are
// the campaigns the shopper holds a coupon of; next is the page a guest
// comes back to after logging in.
func saleBoard(sales coupon.Sales, held map[int64]bool, loggedIn bool, next string) (views.SaleBoard, []saleJSON) {
	b := views.SaleBoard{Now: sales.Now, LoggedIn: loggedIn, Next: next, Cards: make([]views.CampaignCard, len(sales.Items))}
	js := make([]saleJSON, len(sales.Items))
	for i, c := range sales.Items {
		d := coupon.DiscountOf(c.Campaign).Text()
		b.Cards[i] = views.CampaignCard{ID: c.ID, Name: c.Name, Discount: d, MinOrder: c.MinOrderAmount, Status: string(c.Status),
			Remaining: c.Remaining, Total: c.TotalQuantity, StartsAt: c.StartsAt, EndsAt: c.EndsAt, Held: held[c.ID]}
		js[i] = saleJSON{c.ID, c.Name, d, string(c.Status), views.JSONTime(c.StartsAt), views.JSONTime(c.EndsAt), c.Remaining, c.TotalQuantity}
	}
	return b, js
}

func (s *Server) coupons(w http.ResponseWriter, r *http.Request) error {
	sales, err := s.Coupons.Sales(r.Context())
	if err != nil {
		return err
	}
	var mine []coupon.UserCoupon
	u, loggedIn := reqctx.CurrentUser(r.Context())
	if loggedIn {
		if mine, err = s.Coupons.ListForUser(r.Context(), u.ID); err != nil {
			return err
		}
	}
	held := map[int64]bool{}
	for _, c := range mine {
		held[c.CampaignID] = true
	}
	board, js := saleBoard(sales, held, loggedIn, "/coupons")
	v := views.CouponsView{Board: board, Mine: myCoupons(mine)}
	return s.render(w, r, answer{Page: views.CouponsPage(v), JSON: map[string]any{
		"server_time": views.JSONTime(sales.Now), "campaigns": js, "coupons": couponsJSON(mine)}})
}

// claimStatus is the HTTP status of each claim result (docs/HTTP.md).
var claimStatus = map[coupon.Result]int{
	coupon.Claimed:        http.StatusOK,
	coupon.AlreadyClaimed: http.StatusConflict,
	coupon.SoldOut:        http.StatusGone,
	coupon.NotActive:      http.StatusForbidden,
}

func (s *Server) claimCoupon(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "campaignID")
	if err != nil {
		return notActive(err)
	}
	o, waiting, err := s.claimThroughRoom(r, id)
	if waiting != nil {
		return s.waitInLine(w, r, id, *waiting)
	}
	if e, ok := errs.As(err); ok && isPartial(r) {
		// A refusal goes beside the button like any answer, in the card's one
		// live region; a busy shop offers to try again (nothing was changed).
		status, known := statusOf[e.Code]
		if !known {
			status = http.StatusUnprocessableEntity
		}
		s.setRetryAfter(w, status, err)
		retry := e.Code == errs.Busy || e.Code == errs.Unavailable
		return s.render(w, r, answer{Status: status, Fragment: views.ClaimProblem(id, e.Message, retry)})
	}
	if err != nil {
		return notActive(err)
	}
	status := claimStatus[o.Result]
	if !wantsJSON(r) && !isPartial(r) {
		// The plain form: back to the page with the answer as a flash.
		kind := "success"
		if o.Result != coupon.Claimed {
			kind = "error"
		}
		s.sessions.flash(w, r, kind, views.ClaimMessage(string(o.Result)))
		redirect(w, r, "/coupons")
		return nil
	}
	out := views.ClaimOutcome{CampaignID: id, Result: string(o.Result), Remaining: o.Remaining}
	return s.render(w, r, answer{Status: status, Fragment: views.ClaimResult(out),
		JSON: map[string]any{"result": o.Result, "remaining": o.Remaining}})
}

// notActive gives a campaign that does not exist the answer of one that is
// not active beside its error: every claim answer has a result (docs/HTTP.md,
// Coupons).
func notActive(err error) error {
	if errs.Is(err, errs.NotFound) {
		return withFields{err, map[string]any{"result": coupon.NotActive, "remaining": 0}}
	}
	return err
}

// claimThroughRoom claims once the waiting room lets the shopper through;
// waiting is the ticket when the turn has not come.
func (s *Server) claimThroughRoom(r *http.Request, id int64) (o coupon.Outcome, waiting *room.Ticket, err error) {
	if s.Room != nil {
		token, err := ticketOf(r)
		if err != nil {
			return o, nil, err
		}
		if waiting, err = s.passRoom(r, id, token); waiting != nil || err != nil {
			return o, waiting, err
		}
	}
	o, err = s.Coupons.Claim(r.Context(), id, currentUser(r).ID)
	return o, nil, err
}

func myCoupons(cs []coupon.UserCoupon) []views.MyCoupon {
	out := make([]views.MyCoupon, len(cs))
	for i, c := range cs {
		out[i] = views.MyCoupon{ID: c.ID, CampaignID: c.CampaignID, CampaignName: c.CampaignName, Discount: c.DiscountText,
			Status: c.Status, ExpiresAt: views.When(c.ExpiresAt)}
	}
	return out
}

// couponJSON is one coupon in account and coupons JSON (docs/HTTP.md).
type couponJSON struct {
	ID           int64  `json:"id"`
	CampaignID   int64  `json:"campaign_id"`
	CampaignName string `json:"campaign_name"`
	Discount     string `json:"discount"`
	Status       string `json:"status"`
	ExpiresAt    string `json:"expires_at"`
}

func couponsJSON(cs []coupon.UserCoupon) []couponJSON {
	out := make([]couponJSON, len(cs))
	for i, c := range cs {
		out[i] = couponJSON{c.ID, c.CampaignID, c.CampaignName, c.DiscountText, c.Status, views.JSONTime(c.ExpiresAt)}
	}
	return out
}
