package web

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"market/internal/account"
	"market/internal/coupon"
	"market/internal/errs"
	"market/internal/reqctx"
	"market/views"
)

func (s *Server) signupForm(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, answer{Page: views.SignupPage(views.Form{Values: s.withIntentNote(r, map[string]string{"next": safeNext(r.URL.Query().Get("next"))})})})
}

// withIntentNote adds to a login or sign-up form's values what will happen
// once the guest is in (the intent kept by requireUser, web/session.go).
func (s *Server) withIntentNote(r *http.Request, values map[string]string) map[string]string {
	if in, ok := s.sessions.pendingIntent(r, safeNext(values["next"])); ok {
		switch in.Kind {
		case intentCart:
			values["intent"] = "Log in or create an account, and we will put the product in your cart."
		case intentClaim:
			values["intent"] = "Log in or create an account, and we will claim the coupon for you."
		}
	}
	return values
}

// carryOutIntent does what the guest asked for before logging in, and says
// how it went on the page they come back to.
func (s *Server) carryOutIntent(w http.ResponseWriter, r *http.Request, in intent, userID int64) {
	failed := func(what string, err error) {
		msg := "Please try again."
		if e, ok := errs.As(err); ok {
			msg = e.Message
		} else {
			s.Log.Warn("a guest's intent failed after login", "request_id", requestIDOf(r), "kind", in.Kind, "err", err)
		}
		s.sessions.flash(w, r, "error", what+" "+msg)
	}
	switch in.Kind {
	case intentCart:
		c, err := s.Orders.SetItem(r.Context(), userID, in.ID, in.Quantity)
		if err != nil {
			failed("We could not put it in your cart.", err)
			return
		}
		name := "the product"
		for _, l := range c.Lines {
			if l.ProductID == in.ID {
				name = l.Name
			}
		}
		s.sessions.flash(w, r, "success", "Added "+strconv.FormatInt(in.Quantity, 10)+" × "+name+" to your cart.")
	case intentClaim:
		o, err := s.Coupons.Claim(r.Context(), in.ID, userID)
		if err != nil {
			failed("Your coupon is not claimed yet.", err)
			return
		}
		kind := "success"
		if o.Result != coupon.Claimed {
			kind = "error"
		}
		s.sessions.flash(w, r, kind, views.ClaimMessage(string(o.Result)))
	}
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	in := account.SignupInput{Email: f.values["email"], Name: f.values["name"], Password: f.values["password"]}
	next := safeNext(f.values["next"])
	s.withIntentNote(r, f.values)
	wanted, hasIntent := s.sessions.pendingIntent(r, next)
	u, err := s.Accounts.Signup(r.Context(), in, clientAddr(r))
	if err != nil {
		return s.formFailed(w, r, err, f, views.SignupPage)
	}
	if err := s.sessions.logIn(w, r, sessionUser(u), u.CheckedAt); err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusCreated, userJSON(u))
	}
	s.sessions.flash(w, r, "success", "Welcome to Opener Market, "+u.Name+"!")
	if hasIntent {
		s.carryOutIntent(w, r, wanted, u.ID)
	}
	redirect(w, r, next)
	return nil
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, answer{Page: views.LoginPage(views.Form{Values: s.withIntentNote(r, map[string]string{"next": safeNext(r.URL.Query().Get("next"))})})})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	email := f.text("email", account.EmailText)
	next := safeNext(f.values["next"])
	s.withIntentNote(r, f.values)
	wanted, hasIntent := s.sessions.pendingIntent(r, next)
	if err := f.err(); err != nil {
		return s.formFailed(w, r, err, f, views.LoginPage)
	}
	u, err := s.Accounts.Login(r.Context(), email, f.values["password"], clientAddr(r))
	if err != nil {
		return s.formFailed(w, r, err, f, views.LoginPage)
	}
	if err := s.sessions.logIn(w, r, sessionUser(u), u.CheckedAt); err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, userJSON(u))
	}
	if hasIntent {
		s.carryOutIntent(w, r, wanted, u.ID)
	}
	if next == "/" && u.IsAdmin() {
		next = "/admin"
	}
	redirect(w, r, next)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.sessions.logOut(w, r); err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, map[string]bool{"logged_out": true})
	}
	redirect(w, r, "/")
	return nil
}

// logoutEverywhere ends every session of the shopper, this one included.
func (s *Server) logoutEverywhere(w http.ResponseWriter, r *http.Request) error {
	if err := s.Accounts.Sessions.EndAll(r.Context(), currentUser(r).ID); err != nil {
		return err
	}
	if err := s.sessions.logOut(w, r); err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, map[string]bool{"logged_out": true})
	}
	s.sessions.flash(w, r, "success", "You are signed out on every device. Sign in again where you need to.")
	redirect(w, r, "/login")
	return nil
}

// changePassword changes the password, which ends every session of the
// shopper; this browser gets a new one.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	u := currentUser(r)
	if err := s.Accounts.ChangePassword(r.Context(), u.ID, f.values["current_password"], f.values["new_password"], clientAddr(r)); err != nil {
		vf, status, ok := formOf(err, map[string]string{})
		if !ok || wantsJSON(r) {
			return err
		}
		s.setRetryAfter(w, status, err) // the login limiter's 429
		return s.renderAccount(w, r, views.AccountView{Password: vf}, status)
	}
	if err := s.sessions.logIn(w, r, u, time.Now()); err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, map[string]bool{"password_changed": true})
	}
	s.sessions.flash(w, r, "success", "Your password is changed. You are signed out on every other device.")
	redirect(w, r, "/account")
	return nil
}

// formFailed re-renders a form with its messages, or hands other errors on.
func (s *Server) formFailed(w http.ResponseWriter, r *http.Request, err error, f *form, page func(views.Form) templ.Component) error {
	vf, status, ok := formOf(err, f.values)
	if !ok || wantsJSON(r) {
		return err
	}
	s.setRetryAfter(w, status, err) // the login limiter's 429
	return s.render(w, r, answer{Status: status, Page: page(vf)})
}

func (s *Server) account(w http.ResponseWriter, r *http.Request) error {
	return s.renderAccount(w, r, views.AccountView{}, http.StatusOK)
}

// renderAccount shows the account with its wallet; forms carries the state
// of a form being answered (top-up, password).
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, forms views.AccountView, status int) error {
	u, err := s.Accounts.Get(r.Context(), currentUser(r).ID)
	if err != nil {
		return err
	}
	wal, err := s.Orders.Wallet(r.Context(), u.ID)
	if err != nil {
		return err
	}
	coupons, err := s.Coupons.ListForUser(r.Context(), u.ID)
	if err != nil {
		return err
	}
	v := views.AccountView{Name: u.Name, Email: u.Email, Balance: wal.Balance, Points: wal.Points, Since: views.When(u.CreatedAt),
		BalanceHistory: ledgerRows(wal.BalanceHistory, "/orders/"), PointsHistory: ledgerRows(wal.PointsHistory, "/orders/"), TopUp: forms.TopUp, Password: forms.Password,
		Coupons: myCoupons(coupons)}
	return s.render(w, r, answer{
		Status: status,
		Page:   views.AccountPage(v),
		JSON: map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "balance": wal.Balance, "points": wal.Points,
			"coupons": couponsJSON(coupons), "balance_history": ledgerJSON(wal.BalanceHistory), "points_history": ledgerJSON(wal.PointsHistory)},
	})
}

func sessionUser(u account.User) reqctx.User {
	return reqctx.User{ID: u.ID, Email: u.Email, Name: u.Name, Admin: u.IsAdmin()}
}

func userJSON(u account.User) map[string]any {
	return map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role}
}

// clientAddr is the peer's address for the login and sign-up limiters: its
// IPv4 address, or its IPv6 /64 (one subscriber's network holds a whole /64,
// so counting single IPv6 addresses would give it endless budgets). Behind a
// proxy the operator would put a trusted X-Forwarded-For step in front of this.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
