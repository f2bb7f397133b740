package web

import (
	"net/http"

	"market/views"
)

func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	featured, err := s.Catalog.Featured(r.Context(), 12)
	if err != nil {
		return err
	}
	cards := make([]views.ProductCard, len(featured))
	for i, p := range featured {
		cards[i] = views.ProductCard(p)
	}
	return s.render(w, r, answer{
		Page: views.HomePage(views.HomeView{Featured: cards}),
		JSON: map[string]any{"featured": featured},
	})
}
