package web

import (
	"net/http"
	"strconv"

	"market/internal/account"
	"market/internal/errs"
	"market/views"
)

// addresses lists the shopper's delivery addresses with the form to add
// one, or (?edit=ID) the form to change one of them.
func (s *Server) addresses(w http.ResponseWriter, r *http.Request) error {
	v := views.AddressesView{Next: safeNext(r.URL.Query().Get("next"))}
	if v.Next == "/" {
		v.Next = ""
	}
	if e := r.URL.Query().Get("edit"); e != "" {
		id, err := strconv.ParseInt(e, 10, 64)
		if err != nil || id <= 0 {
			return errAddressNotFound
		}
		v.EditID = id
	}
	return s.renderAddresses(w, r, v, http.StatusOK)
}

var errAddressNotFound = errs.New(errs.NotFound, "We could not find that address among yours.")

// renderAddresses shows the list; v carries the form being answered.
func (s *Server) renderAddresses(w http.ResponseWriter, r *http.Request, v views.AddressesView, status int) error {
	list, err := s.Accounts.Addresses(r.Context(), currentUser(r).ID)
	if err != nil {
		return err
	}
	v.Addresses = make([]views.Address, len(list))
	found := v.EditID == 0
	for i, a := range list {
		v.Addresses[i] = views.Address(a)
		if a.ID == v.EditID {
			found = true
			if v.Form.Values == nil { // the form starts as the address is
				v.Form.Values = addressValues(a)
			}
		}
	}
	if !found {
		return errAddressNotFound
	}
	return s.render(w, r, answer{Status: status, Page: views.AddressesPage(v), JSON: map[string]any{"addresses": list}})
}

func addressValues(a account.Address) map[string]string {
	v := map[string]string{"recipient": a.Recipient, "phone": a.Phone, "postal_code": a.PostalCode, "line1": a.Line1, "line2": a.Line2}
	if a.IsDefault {
		v["is_default"] = "1"
	}
	return v
}

func addressInput(f *form) account.AddressInput {
	return account.AddressInput{
		Recipient:  f.text("recipient", account.RecipientText),
		Phone:      f.text("phone", account.PhoneText),
		PostalCode: f.text("postal_code", account.PostalText),
		Line1:      f.text("line1", account.Line1Text),
		Line2:      f.text("line2", account.Line2Text),
		IsDefault:  f.flag("is_default", "Tick the box, or leave it empty."),
	}
}

func (s *Server) addAddress(w http.ResponseWriter, r *http.Request) error {
	return s.saveAddress(w, r, 0)
}

func (s *Server) updateAddress(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return s.saveAddress(w, r, id)
}

// saveAddress adds an address (id 0) or changes one.
func (s *Server) saveAddress(w http.ResponseWriter, r *http.Request, id int64) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	in := addressInput(f)
	err = f.err()
	var a account.Address
	if err == nil && id == 0 {
		a, err = s.Accounts.AddAddress(r.Context(), currentUser(r).ID, in)
	} else if err == nil {
		a, err = s.Accounts.UpdateAddress(r.Context(), currentUser(r).ID, id, in)
	}
	if err != nil {
		if vf, status, ok := formOf(err, f.values); ok && !wantsJSON(r) {
			return s.renderAddresses(w, r, views.AddressesView{EditID: id, Form: vf, Next: f.values["next"]}, status)
		}
		return err
	}
	if wantsJSON(r) {
		status := http.StatusOK
		if id == 0 {
			status = http.StatusCreated
		}
		return writeJSON(w, status, a)
	}
	s.sessions.flash(w, r, "success", "Address saved.")
	next := "/account/addresses"
	if n := f.values["next"]; n != "" {
		next = safeNext(n) // back to the cart, when the address was added on the way to checkout
	}
	redirect(w, r, next)
	return nil
}

func (s *Server) deleteAddress(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Accounts.DeleteAddress(r.Context(), currentUser(r).ID, id); err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, map[string]any{"deleted": true})
	}
	s.sessions.flash(w, r, "success", "Address deleted.")
	redirect(w, r, "/account/addresses")
	return nil
}
