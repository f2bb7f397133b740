package web

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"market/internal/coupon"
	"market/views"
)

func (s *Server) adminCampaignRoutes(r chi.Router) {
	r.Get("/campaigns", s.h(s.adminCampaigns))
	r.Post("/campaigns", s.h(s.adminCreateCampaign))
	r.Get("/campaigns/{id}", s.h(s.adminCampaign))
	r.Post("/campaigns/{id}", s.h(s.adminUpdateCampaign))
	r.Post("/campaigns/{id}/{action:activate|pause|end}", s.h(s.adminCampaignAction))
}

// campaignJSON is the campaign of docs/HTTP.md: id, state, the form's fields, and on the
// campaign page the live counters.
func campaignJSON(c coupon.Campaign, live *coupon.Live) map[string]any {
	m := map[string]any{
		"id": c.ID, "state": c.State, "name": c.Name, "discount_type": c.DiscountType, "discount_value": c.DiscountValue,
		"max_discount": c.MaxDiscount, "min_order_amount": c.MinOrderAmount, "total_quantity": c.TotalQuantity,
		"starts_at": views.JSONTime(c.StartsAt), "ends_at": views.JSONTime(c.EndsAt), "valid_days": c.ValidDays,
		"stripes": c.Stripes,
	}
	if live != nil {
		m["claimed"], m["remaining"], m["persisted"], m["pending"] = live.Claimed, live.Remaining, c.PersistedCount, live.Pending
		// What Redis holds (null when it holds nothing), and since when a
		// saved change has not reached it (null when it has).
		m["redis_state"], m["redis_total"], m["redis_pending_since"] = nil, nil, nil
		if live.Warm {
			m["redis_state"], m["redis_total"] = live.RedisState, live.RedisTotal
		}
		if c.RedisPendingSince != nil {
			m["redis_pending_since"] = views.JSONTime(*c.RedisPendingSince)
		}
	}
	return m
}

func campaignRow(l coupon.Live) views.CampaignRow {
	c := l.Campaign
	r := views.CampaignRow{ID: c.ID, Name: c.Name, State: c.State, Discount: coupon.DiscountOf(c).Text(), MinOrder: c.MinOrderAmount,
		Total: c.TotalQuantity, Claimed: l.Claimed, Remaining: l.Remaining, Persisted: c.PersistedCount, Pending: l.Pending,
		StartsAt: views.When(c.StartsAt), EndsAt: views.When(c.EndsAt), Window: views.Window(c.StartsAt, c.EndsAt), ValidDays: int64(c.ValidDays),
		Stripes: int64(c.Stripes), RedisState: l.RedisState, RedisTotal: l.RedisTotal}
	if c.RedisPendingSince != nil {
		r.RedisPending = views.When(*c.RedisPendingSince)
	}
	return r
}

func (s *Server) adminCampaigns(w http.ResponseWriter, r *http.Request) error {
	return s.renderCampaigns(w, r, http.StatusOK, views.Form{Values: map[string]string{"valid_days": "7", "min_order_amount": "0", "stripes": "1"}})
}

func (s *Server) renderCampaigns(w http.ResponseWriter, r *http.Request, status int, f views.Form) error {
	cs, err := s.Coupons.List(r.Context())
	if err != nil {
		return err
	}
	rows := make([]views.CampaignRow, len(cs))
	js := make([]map[string]any, len(cs))
	for i, c := range cs {
		rows[i] = campaignRow(coupon.Live{Campaign: c})
		js[i] = campaignJSON(c, nil)
	}
	return s.render(w, r, answer{Status: status, Page: views.AdminCampaignsPage(rows, f), JSON: map[string]any{"campaigns": js}})
}

// draftOnlyFields are the campaign form's fields that change only in draft.
var draftOnlyFields = []string{"name", "discount_type", "discount_value", "max_discount", "min_order_amount", "starts_at", "ends_at", "valid_days", "stripes"}

// campaignInput parses the campaign form; full is false for a live
// campaign's form, which has only the quantity.
func campaignInput(f *form, full bool) coupon.Input {
	in := coupon.Input{TotalQuantity: f.int64("total_quantity", 1, coupon.MaxQuantity, true, 0)}
	if !full {
		// Refused rather than dropped: a change the admin meant to make
		// (or made on a draft's form that went live meanwhile) is not lost
		// without a word.
		for _, name := range draftOnlyFields {
			if strings.TrimSpace(f.values[name]) != "" {
				f.fields.Add(name, "Only the quantity can change once a campaign is live.")
			}
		}
		return in
	}
	in.Name = f.text("name", coupon.NameText)
	in.DiscountType = f.str("discount_type", 10)
	// The discount's ranges depend on its type: the campaign's rules judge
	// them and say so in their own words ("A percent discount is 1 to 100
	// percent"); the form only reads whole numbers.
	in.DiscountValue = f.int64("discount_value", math.MinInt64, math.MaxInt64, true, 0)
	// A fixed discount has no cap, but a value sent anyway must still be a
	// whole number (the form may send a cap typed before the type was switched).
	if cap := f.int64("max_discount", math.MinInt64, math.MaxInt64, false, 0); strings.TrimSpace(f.values["max_discount"]) != "" && in.DiscountType == coupon.DiscountPercent {
		in.MaxDiscount = &cap
	}
	in.MinOrderAmount = f.int64("min_order_amount", 0, 10*coupon.MaxMoney, false, 0)
	in.StartsAt = formTime(f, "starts_at")
	in.EndsAt = formTime(f, "ends_at")
	in.ValidDays = f.int64("valid_days", 1, coupon.MaxValidDays, false, coupon.DefaultValidDay)
	in.Stripes = f.int64("stripes", 1, coupon.MaxStripes, false, 1)
	// The campaign's own rules too, so that one submit shows every message
	// (errWith; without a parse error the service judges them itself).
	_ = f.errWith(in.Validate)
	return in
}

func formTime(f *form, name string) time.Time {
	raw := f.str(name, 40)
	if raw == "" {
		f.fields.Add(name, "This field is required.")
		return time.Time{}
	}
	t, err := coupon.ParseTime(raw)
	if err != nil {
		f.fields.Add(name, "Enter a date and time, like 2025-05-01T10:00.")
	}
	return t
}

func (s *Server) adminCreateCampaign(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	in := campaignInput(f, true)
	if err = f.err(); err == nil {
		var c coupon.Campaign
		if c, err = s.Coupons.Create(r.Context(), in); err == nil {
			if wantsJSON(r) {
				return writeJSON(w, http.StatusCreated, campaignJSON(c, nil))
			}
			s.sessions.flash(w, r, "success", "Campaign created as a draft. Activate it when ready.")
			redirect(w, r, "/admin/campaigns/"+strconv.FormatInt(c.ID, 10))
			return nil
		}
	}
	vf, status, ok := formOf(err, f.values)
	if !ok || wantsJSON(r) {
		return err
	}
	return s.renderCampaigns(w, r, status, vf)
}

func (s *Server) adminCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return s.renderCampaign(w, r, id, http.StatusOK, views.Form{})
}

func (s *Server) renderCampaign(w http.ResponseWriter, r *http.Request, id int64, status int, f views.Form) error {
	a, err := s.Coupons.AdminView(r.Context(), id)
	if err != nil {
		return err
	}
	c := a.Campaign
	if f.Values == nil {
		f.Values = map[string]string{
			"name": c.Name, "discount_type": c.DiscountType, "discount_value": strconv.FormatInt(c.DiscountValue, 10),
			"min_order_amount": strconv.FormatInt(c.MinOrderAmount, 10), "total_quantity": strconv.FormatInt(c.TotalQuantity, 10),
			"starts_at": views.FormTime(c.StartsAt), "ends_at": views.FormTime(c.EndsAt),
			"valid_days": strconv.Itoa(int(c.ValidDays)), "stripes": strconv.Itoa(int(c.Stripes)),
		}
		if c.MaxDiscount != nil {
			f.Values["max_discount"] = strconv.FormatInt(*c.MaxDiscount, 10)
		}
	}
	v := views.AdminCampaignView{Campaign: campaignRow(a.Live), Form: f}
	for _, d := range a.DeadLetters {
		v.DeadLetters = append(v.DeadLetters, views.DeadLetterRow{StreamID: d.StreamID, Payload: d.Payload, Error: d.Error, Attempts: int64(d.Attempts), At: views.When(d.CreatedAt)})
	}
	for _, e := range a.Events {
		v.Events = append(v.Events, views.EventRow{Kind: e.Kind, Detail: e.Detail, At: views.When(e.CreatedAt)})
	}
	return s.render(w, r, answer{Status: status, Page: views.AdminCampaignPage(v), JSON: campaignJSON(c, &a.Live)})
}

func (s *Server) adminUpdateCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	cur, err := s.Coupons.Get(r.Context(), id)
	if err != nil {
		return err
	}
	in := campaignInput(f, cur.State == coupon.StateDraft)
	if err = f.err(); err == nil {
		var c coupon.Campaign
		if c, err = s.Coupons.Update(r.Context(), id, in); err == nil {
			if wantsJSON(r) {
				return writeJSON(w, http.StatusOK, campaignJSON(c, nil))
			}
			s.sessions.flash(w, r, "success", "Campaign saved.")
			redirect(w, r, "/admin/campaigns/"+strconv.FormatInt(id, 10))
			return nil
		}
	}
	vf, status, ok := formOf(err, f.values)
	if !ok || wantsJSON(r) {
		return err
	}
	return s.renderCampaign(w, r, id, status, vf)
}

func (s *Server) adminCampaignAction(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	action := chi.URLParam(r, "action")
	c, err := s.Coupons.Transition(r.Context(), id, action)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, campaignJSON(c, nil))
	}
	s.sessions.flash(w, r, "success", "Campaign “"+c.Name+"” is now "+c.State+".")
	redirect(w, r, "/admin/campaigns/"+strconv.FormatInt(id, 10))
	return nil
}
