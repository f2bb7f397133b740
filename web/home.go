package web

import (
	"net/http"

	"market/internal/coupon"
	"market/internal/reqctx"
	"market/views"
)

// homeSales is how many sales the home page shows.
const homeSales = 6

func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	sales, err := s.Coupons.Sales(r.Context())
	if err != nil {
		return err
	}
	featured, err := s.Catalog.Featured(r.Context(), 12)
	if err != nil {
		return err
	}
	held := map[int64]bool{}
	u, loggedIn := reqctx.CurrentUser(r.Context())
	if loggedIn && len(sales.Items) > 0 {
		mine, err := s.Coupons.ListForUser(r.Context(), u.ID)
		if err != nil {
			return err
		}
		for _, c := range mine {
			held[c.CampaignID] = true
		}
	}
	board, js := saleBoard(sales, held, loggedIn, "/")
	// The home page leads with what can still be had; closed sales are on
	// /coupons (and in the JSON, which is the same list as there).
	live := board.Cards[:0:0]
	for _, c := range board.Cards {
		if c.Status != string(coupon.Closed) {
			live = append(live, c)
		}
	}
	// A few, so that the products stay in reach on a phone; /coupons has them all.
	board.Cards = live[:min(len(live), homeSales)]
	cards := make([]views.ProductCard, len(featured))
	for i, p := range featured {
		cards[i] = views.ProductCard(p)
	}
	return s.render(w, r, answer{
		Page: views.HomePage(views.HomeView{Sales: board, Featured: cards}),
		JSON: map[string]any{"server_time": views.JSONTime(sales.Now), "campaigns": js, "featured": featured},
	})
}
