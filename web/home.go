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

func (s *Server) adminHome(w http.ResponseWriter, r *http.Request) error {
	users, err := s.Accounts.Count(r.Context())
	if err != nil {
		return err
	}
	products, err := s.Catalog.Count(r.Context())
	if err != nil {
		return err
	}
	return s.render(w, r, answer{
		Page: views.AdminHomePage(views.AdminHomeView{Users: users, Products: products}),
		JSON: map[string]any{"users": users, "products": products},
	})
}
