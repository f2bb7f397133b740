package web

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"market/internal/coupon"
	"market/internal/reqctx"
	"market/views"
)

func (s *Server) couponRoutes(r chi.Router) {
	r.Get("/coupons", s.h(s.coupons))
	r.With(s.requireUser).Post("/coupons/{campaignID}/claim", s.h(s.claimCoupon))
}

func (s *Server) coupons(w http.ResponseWriter, r *http.Request) error {
	live, err := s.Coupons.ActiveForShoppers(r.Context())
	if err != nil {
		return err
	}
	v := views.CouponsView{Campaigns: make([]views.CampaignCard, len(live))}
	var mine []coupon.UserCoupon
	if u, ok := reqctx.CurrentUser(r.Context()); ok {
		v.LoggedIn = true
		if mine, err = s.Coupons.ListForUser(r.Context(), u.ID); err != nil {
			return err
		}
		v.Mine = myCoupons(mine)
	}
	held := map[int64]bool{}
	for _, c := range mine {
		held[c.CampaignID] = true
	}
	type campaignJSON struct {
		ID        int64  `json:"id"`
		Name      string `json:"name"`
		Discount  string `json:"discount"`
		Remaining int64  `json:"remaining"`
		Total     int64  `json:"total_quantity"`
		EndsAt    string `json:"ends_at"`
	}
	js := make([]campaignJSON, len(live))
	for i, c := range live {
		d := coupon.DiscountOf(c.Campaign).Text()
		v.Campaigns[i] = views.CampaignCard{ID: c.ID, Name: c.Name, Discount: d, MinOrder: c.MinOrderAmount,
			Remaining: c.Remaining, Total: c.TotalQuantity, EndsIn: views.Until(time.Until(c.EndsAt)), Held: held[c.ID]}
		js[i] = campaignJSON{c.ID, c.Name, d, c.Remaining, c.TotalQuantity, c.EndsAt.Format(time.RFC3339)}
	}
	return s.render(w, r, answer{Page: views.CouponsPage(v), JSON: map[string]any{"campaigns": js, "coupons": couponsJSON(mine)}})
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
		return err
	}
	o, err := s.Coupons.Claim(r.Context(), id, currentUser(r).ID)
	if err != nil {
		return err
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
		out[i] = couponJSON{c.ID, c.CampaignID, c.CampaignName, c.DiscountText, c.Status, c.ExpiresAt.Format(time.RFC3339)}
	}
	return out
}
