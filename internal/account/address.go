package account

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/text"
)

// MaxAddresses is how many delivery addresses one shopper may keep.
const MaxAddresses = 10

// Address is a delivery address. Phone holds digits only.
type Address struct {
	ID         int64  `json:"id"`
	Recipient  string `json:"recipient"`
	Phone      string `json:"phone"`
	PostalCode string `json:"postal_code"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	IsDefault  bool   `json:"is_default"`
}

func addressOf(r db.Address) Address {
	return Address{ID: r.ID, Recipient: r.Recipient, Phone: r.Phone, PostalCode: r.PostalCode, Line1: r.Line1, Line2: r.Line2, IsDefault: r.IsDefault}
}

// AddressInput is the address form. Validate normalises the phone to its
// digits; the text fields have passed the text rule in the web layer.
type AddressInput struct {
	Recipient, Phone, PostalCode, Line1, Line2 string
	IsDefault                                  bool
}

// Text rules of the address fields, for the form reader.
var (
	RecipientText = text.Options{Label: "The recipient", Max: 100, Name: true}
	PhoneText     = text.Options{Label: "The phone number", Max: 30}
	PostalText    = text.Options{Label: "The postal code", Max: 10}
	Line1Text     = text.Options{Label: "The address", Max: 200}
	Line2Text     = text.Options{Label: "The second address line", Max: 200}
)

// Validate checks the form and normalises the phone number.
func (in *AddressInput) Validate() error {
	f := errs.Fields{}
	f.Check(in.Recipient != "", "recipient", "Enter who receives the parcel.")
	in.Phone = strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -().", r) {
			return -1
		}
		return r
	}, in.Phone)
	f.Check(allDigits(in.Phone) && len(in.Phone) >= 9 && len(in.Phone) <= 11, "phone",
		"Enter a phone number of 9 to 11 digits, like 010-1234-5678.")
	f.Check(allDigits(in.PostalCode) && len(in.PostalCode) == 5, "postal_code",
		"A postal code is five digits, like 06236.")
	f.Check(in.Line1 != "", "line1", "Enter the street address.")
	return f.Err()
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

var errAddressNotFound = errs.New(errs.NotFound, "We could not find that address among yours.")

// Addresses lists the shopper's addresses, the default first.
func (s *Service) Addresses(ctx context.Context, userID int64) ([]Address, error) {
	rows, err := s.q.ListAddresses(ctx, userID)
	out := make([]Address, len(rows))
	for i, r := range rows {
		out[i] = addressOf(r)
	}
	return out, err
}

// AddAddress keeps a new address. The first one is the default, and one
// added as the default takes over from the old.
func (s *Service) AddAddress(ctx context.Context, userID int64, in AddressInput) (Address, error) {
	if err := in.Validate(); err != nil {
		return Address{}, err
	}
	var a Address
	err := s.underShopperLock(ctx, userID, func(q *db.Queries) error {
		n, err := q.CountAddresses(ctx, userID)
		if err != nil {
			return err
		}
		if n >= MaxAddresses {
			return errs.New(errs.Conflict, "You can keep at most %d addresses. Delete one you no longer use first.", MaxAddresses)
		}
		row, err := q.InsertAddress(ctx, db.InsertAddressParams{UserID: userID, Recipient: in.Recipient, Phone: in.Phone,
			PostalCode: in.PostalCode, Line1: in.Line1, Line2: in.Line2})
		if err != nil {
			return err
		}
		a = addressOf(row)
		if in.IsDefault || n == 0 {
			a.IsDefault = true
			return makeDefault(ctx, q, userID, a.ID)
		}
		return nil
	})
	return a, err
}

// UpdateAddress changes one of the shopper's addresses. Ticking "default"
// moves the default to it; the default itself stays the default until
// another one is chosen, so a shopper with addresses always has one.
func (s *Service) UpdateAddress(ctx context.Context, userID, id int64, in AddressInput) (Address, error) {
	if err := in.Validate(); err != nil {
		return Address{}, err
	}
	var a Address
	err := s.underShopperLock(ctx, userID, func(q *db.Queries) error {
		row, err := q.UpdateAddress(ctx, db.UpdateAddressParams{ID: id, UserID: userID, Recipient: in.Recipient, Phone: in.Phone,
			PostalCode: in.PostalCode, Line1: in.Line1, Line2: in.Line2})
		if errors.Is(err, pgx.ErrNoRows) {
			return errAddressNotFound
		}
		if err != nil {
			return err
		}
		a = addressOf(row)
		if in.IsDefault && !a.IsDefault {
			a.IsDefault = true
			return makeDefault(ctx, q, userID, id)
		}
		return nil
	})
	return a, err
}

// DeleteAddress removes one of the shopper's addresses; when it was the
// default, the newest one left becomes the default.
func (s *Service) DeleteAddress(ctx context.Context, userID, id int64) error {
	return s.underShopperLock(ctx, userID, func(q *db.Queries) error {
		n, err := q.DeleteAddress(ctx, db.DeleteAddressParams{ID: id, UserID: userID})
		if err != nil {
			return err
		}
		if n == 0 {
			return errAddressNotFound
		}
		return q.PromoteNewestAddress(ctx, userID)
	})
}

func makeDefault(ctx context.Context, q *db.Queries, userID, id int64) error {
	if err := q.ClearDefaultAddress(ctx, db.ClearDefaultAddressParams{UserID: userID, ID: id}); err != nil {
		return err
	}
	_, err := q.MarkDefaultAddress(ctx, db.MarkDefaultAddressParams{ID: id, UserID: userID})
	return err
}

// underShopperLock runs fn in a transaction holding the shopper's row, the
// lock every change to one shopper's money, cart and addresses takes first,
// so two tabs saving addresses at once cannot leave two defaults or pass
// the limit together.
func (s *Service) underShopperLock(ctx context.Context, userID int64, fn func(q *db.Queries) error) error {
	return db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		if _, err := q.LockShopper(ctx, userID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return errs.New(errs.NotFound, "We could not find your account.")
			}
			return err
		}
		return fn(q)
	})
}
