// Package web turns HTTP requests into domain service calls and views.
// Handlers parse and validate input, call one service, and render.
package web

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/audit"
	"market/internal/catalog"
	"market/internal/config"
	"market/internal/consistency"
	"market/internal/coupon"
	"market/internal/export"
	"market/internal/order"
	"market/internal/replica"
	"market/internal/room"
	"market/internal/search"
)

// Deps is everything the handlers need, built once in main.
type Deps struct {
	Log    *slog.Logger
	Config config.Config
	Pool   *pgxpool.Pool
	// Reads routes the catalogue and search reads (nil: the primary alone);
	// the Catalog and Search services read through the same one.
	Reads       *replica.Reads
	Redis       redis.UniversalClient
	Accounts    *account.Service
	Catalog     *catalog.Service
	Search      *search.Service
	Consistency *consistency.Service
	Coupons     *coupon.Service
	Room        *room.Room // nil: no waiting room
	Orders      *order.Service
	Exports     *export.Service
	Audit       *audit.Service
	Metrics     prometheus.Registerer
}

// Server holds the handlers' dependencies.
type Server struct {
	Deps
	sessions *sessionStore
	metrics  *httpMetrics
}

// maxBody caps every request body: 413 beyond 1 MiB (docs/HTTP.md), except
// a picture upload's (bodyLimit).
const maxBody = 1 << 20

// New builds the handler: the routes behind cross-origin protection.
func New(d Deps) http.Handler {
	if d.Reads == nil {
		d.Reads = replica.PrimaryOnly(d.Pool)
	}
	s := &Server{Deps: d, sessions: newSessionStore(d.Config.SessionSecret, d.Config.SecureCookies, d.Accounts.Sessions), metrics: newHTTPMetrics(d.Metrics)}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.h(func(w http.ResponseWriter, r *http.Request) error { return errCrossOrigin }))
	return cop.Handler(s.routes())
}

func (s *Server) routes() chi.Router {
	d := s.Deps
	r := chi.NewRouter()
	r.Use(s.requestID, s.recoverPanic, s.accessLog, s.measure, securityHeaders, headAsGet,
		limitBody(bodyLimit), readBodyWithin(d.Config.BodyReadTimeout),
		timeoutExceptStreams(d.Config.RequestTimeout), s.loadSession, noStoreWhenSignedIn, s.cartBadge)
	r.NotFound(s.h(func(w http.ResponseWriter, r *http.Request) error { return errNotFound }))
	r.MethodNotAllowed(s.methodNotAllowed(r))

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Get("/static/*", s.staticFiles().ServeHTTP)

	r.Get("/", s.h(s.home))
	r.Get("/signup", s.h(s.signupForm))
	r.Post("/signup", s.h(s.signup))
	r.Get("/login", s.h(s.loginForm))
	r.Post("/login", s.h(s.login))
	r.Post("/logout", s.h(s.logout))
	s.couponRoutes(r)

	r.Group(func(r chi.Router) {
		r.Use(s.requireUser)
		r.Get("/account", s.h(s.account))
		r.Get("/account/addresses", s.h(s.addresses))
		r.Post("/account/addresses", s.h(s.addAddress))
		r.Post("/account/addresses/{id}", s.h(s.updateAddress))
		r.Post("/account/addresses/{id}/delete", s.h(s.deleteAddress))
		r.Post("/account/password", s.h(s.changePassword))
		r.Post("/account/logout-everywhere", s.h(s.logoutEverywhere))
	})

	s.catalogRoutes(r)
	s.orderRoutes(r)

	r.Route("/admin", func(r chi.Router) {
		r.Use(s.requireUser, s.requireAdmin)
		r.Get("/", s.h(s.adminHome))
		s.consistencyRoutes(r)
		s.adminCampaignRoutes(r)
		s.adminOrderRoutes(r)
		s.adminShopperRoutes(r)
		s.adminExportRoutes(r)
		r.Get("/audit", s.h(s.adminAudit))
	})
	return r
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	v := "public, max-age=" + strconv.FormatInt(int64(d/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", v)
		next.ServeHTTP(w, r)
	})
}
