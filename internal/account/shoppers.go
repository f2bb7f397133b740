package account

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"market/internal/audit"
	"market/internal/db"
	"market/internal/errs"
)

// ShopperPageSize is how many shoppers a page of the admin list shows.
const ShopperPageSize = 50

// Shopper is one row of the admin's list of shoppers.
type Shopper struct {
	ID         int64
	Email      string
	Name       string
	Balance    int64
	Points     int64
	DisabledAt *time.Time
	CreatedAt  time.Time
}

// ShopperPage is a page of shoppers, newest first; Next is the cursor of
// the page after it ("" on the last).
type ShopperPage struct {
	Shoppers []Shopper
	Next     string
}

var errBadShopperCursor = errs.New(errs.Invalid, "This list's page link is broken. Start again from the first page.")

// Shoppers lists shoppers whose email or name starts with q (any case; all
// when q is empty), newest first, the page after the cursor.
func (s *Service) Shoppers(ctx context.Context, q, after string) (ShopperPage, error) {
	before := int64(math.MaxInt64)
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n <= 0 {
			return ShopperPage{}, errBadShopperCursor
		}
		before = n
	}
	q = strings.ToLower(strings.TrimSpace(q))
	var rows []db.ListShoppersRow
	var err error
	if q == "" {
		rows, err = s.q.ListShoppers(ctx, db.ListShoppersParams{Before: before, Lim: ShopperPageSize + 1})
	} else {
		rows, err = s.searchShoppers(ctx, q, before)
	}
	if err != nil {
		return ShopperPage{}, err
	}
	page := ShopperPage{Shoppers: make([]Shopper, 0, len(rows))}
	for _, r := range rows[:min(len(rows), ShopperPageSize)] {
		page.Shoppers = append(page.Shoppers, Shopper(r))
	}
	if len(rows) > ShopperPageSize {
		page.Next = strconv.FormatInt(rows[ShopperPageSize-1].ID, 10)
	}
	return page, nil
}

// searchWindow is how many of the newest shoppers before the cursor a
// search walks first (SearchRecentShoppers, queries/account.sql).
const searchWindow = 2000

// searchShoppers is a page and one more of the shoppers matching q before
// the cursor: the newest searchWindow first, then, when they hold less than
// a page, the older matches through the prefix indexes. Both read one
// snapshot, planned for their arguments.
func (s *Service) searchShoppers(ctx context.Context, q string, before int64) ([]db.ListShoppersRow, error) {
	var rows []db.ListShoppersRow
	err := db.ReadPlanned(ctx, s.pool, func(tx *db.Queries) error {
		recent, err := tx.SearchRecentShoppers(ctx, db.SearchRecentShoppersParams{Before: before, Q: q, Walk: searchWindow, Lim: ShopperPageSize + 1})
		if err != nil {
			return err
		}
		for _, r := range recent {
			rows = append(rows, db.ListShoppersRow(r))
		}
		if len(rows) > ShopperPageSize {
			return nil
		}
		older, err := tx.SearchOlderShoppers(ctx, db.SearchOlderShoppersParams{Before: before, Q: q, Walk: searchWindow, Lim: int32(ShopperPageSize + 1 - len(rows))})
		for _, r := range older {
			rows = append(rows, db.ListShoppersRow(r))
		}
		return err
	})
	return rows, err
}

var errNoShopper = errs.New(errs.NotFound, "There is no shopper with that id.")

// Shopper returns one shopper (never an admin) for the admin's page.
func (s *Service) Shopper(ctx context.Context, id int64) (User, *time.Time, error) {
	row, err := s.q.GetUser(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && row.Role != RoleShopper {
		return User{}, nil, errNoShopper
	}
	if err != nil {
		return User{}, nil, err
	}
	return fromRow(row), row.DisabledAt, nil
}

// SetDisabled disables a shopper (ending every session, so the next request
// of each is anonymous, and refusing logins) or enables one again.
func (s *Service) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	err := db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		before, err := q.GetUser(ctx, id)
		if err != nil {
			return err
		}
		_, err = q.SetShopperDisabled(ctx, db.SetShopperDisabledParams{ID: id, Disabled: disabled})
		if errors.Is(err, pgx.ErrNoRows) && before.Role == RoleShopper {
			return nil // already so: nothing changed, nothing to record
		} else if err != nil {
			return err
		}
		action := map[bool]string{true: "disable", false: "enable"}[disabled]
		// The update matched, so the row was the other way until now (even
		// if another admin changed it after before was read).
		return audit.Record(ctx, q, audit.Shopper, action, audit.Subject("shopper", id),
			map[string]any{"disabled": !disabled}, map[string]any{"disabled": disabled})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoShopper
	}
	if err != nil || !disabled {
		return err
	}
	// After the row says disabled: a login that read it before is refused
	// by Sessions.Start, having checked its password before this.
	return s.Sessions.EndAll(ctx, id)
}
