// Package account holds shoppers and admins: signup, login, the admin
// bootstrap, and the failed-login limiter.
package account

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/text"
)

// Roles.
const (
	RoleShopper = "shopper"
	RoleAdmin   = "admin"
)

// User is an account as the rest of the app sees it (never the hash).
type User struct {
	ID        int64
	Email     string
	Name      string
	Role      string
	Balance   int64
	Points    int64
	CreatedAt time.Time
	// CheckedAt is when this login's password was checked, just before the
	// stored hash was read (zero when the user was not loaded by a login or
	// a signup): a session opened from it is refused when a password change
	// ended the user's sessions after it (Sessions.Start).
	CheckedAt time.Time
}

func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

func fromRow(r db.User) User {
	return User{ID: r.ID, Email: r.Email, Name: r.Name, Role: r.Role, Balance: r.Balance, Points: r.Points, CreatedAt: r.CreatedAt}
}

// Limits are the account budgets (README, Configuration) and the hashing pool's size.
// A zero limit is no limit; config never passes one.
type Limits struct {
	PerEmail int           // failed logins per email per Window
	PerAddr  int           // failed logins per client address per Window
	Window   time.Duration // the login budgets' fixed window
	// SignupPerAddr is sign-ups per client address per hour.
	SignupPerAddr int
	// Hashes is how many argon2id hashes run at once (19 MiB each); zero is
	// one per core, and at least two.
	Hashes int
}

// Service is the accounts domain.
type Service struct {
	pool     *pgxpool.Pool
	q        *db.Queries
	limits   limiters
	hashes   hashSlots
	Sessions *Sessions
}

func NewService(pool *pgxpool.Pool, rdb redis.UniversalClient, l Limits) *Service {
	return &Service{pool: pool, q: db.New(pool), limits: newLimiters(rdb, l), hashes: newHashSlots(l.Hashes),
		Sessions: NewSessions(rdb, SessionMaxAge)}
}

// SignupInput is the signup form.
type SignupInput struct {
	Email    string
	Name     string
	Password string
}

// Normalize trims what a person would not mean to type. An email that is not
// valid UTF-8 is left as it is for Validate to refuse: lowering it would
// rewrite the bad bytes to U+FFFD and store an address nobody typed.
func (in *SignupInput) Normalize() {
	in.Email = strings.TrimSpace(in.Email)
	if utf8.ValidString(in.Email) {
		in.Email = strings.ToLower(in.Email)
	}
	in.Name = strings.TrimSpace(in.Name)
}

// Text rules of the account fields (package text): an email and a name are
// shown to admins, so neither may hide or reverse itself.
var (
	EmailText = text.Options{Label: "The email address", Max: 254, Name: true}
	NameText  = text.Options{Label: "Your name", Max: 100, Name: true}
)

// Validate checks the contract's bounds: email valid, name 1–100, password 8–128.
func (in SignupInput) Validate() error {
	f := errs.Fields{}
	if err := text.Check(in.Email, EmailText); err != nil {
		f.Add("email", err.Error())
	}
	f.Check(ValidEmail(in.Email), "email", "Enter a valid email address, like name@example.com.")
	f.Check(in.Name != "", "name", "Enter your name.")
	if err := text.Check(in.Name, NameText); err != nil {
		f.Add("name", err.Error())
	}
	p := utf8.RuneCountInString(in.Password)
	f.Check(p >= 8, "password", "Choose a password of at least 8 characters.")
	f.Check(p <= 128, "password", "A password can be at most 128 characters.")
	return f.Err()
}

// ValidEmail accepts a plain address (no display name) of at most 254 bytes
// that passes EmailText.
func ValidEmail(s string) bool {
	if len(s) < 3 || len(s) > 254 || text.Check(s, EmailText) != nil {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@'):], ".")
}

// Signup creates a shopper. addr is the client's address, for the limiter.
func (s *Service) Signup(ctx context.Context, in SignupInput, addr string) (User, error) {
	in.Normalize()
	if err := in.Validate(); err != nil {
		return User{}, err
	}
	if err := s.limits.takeSignup(ctx, addr); err != nil {
		return User{}, err
	}
	u, err := s.createShopper(ctx, in)
	// A taken email keeps its unit: it cost a hash and says that an account
	// exists. A sign-up that never got that far (a busy pool, an outage)
	// gives it back.
	if err != nil && !errs.Is(err, errs.Conflict) {
		s.limits.giveBackSignup(ctx, addr)
	}
	return u, err
}

func (s *Service) createShopper(ctx context.Context, in SignupInput) (User, error) {
	hash, err := s.hashes.hash(ctx, in.Password)
	if err != nil {
		return User{}, err
	}
	checked := time.Now()
	row, err := s.q.CreateUser(ctx, db.CreateUserParams{Email: in.Email, PasswordHash: hash, Name: in.Name, Role: RoleShopper})
	if isUniqueViolation(err) {
		return User{}, &errs.Error{Code: errs.Conflict, Message: "An account with this email already exists. Log in instead.",
			Fields: map[string]string{"email": "An account with this email already exists."}}
	}
	if err != nil {
		return User{}, err
	}
	u := fromRow(row)
	u.CheckedAt = checked
	return u, nil
}

var errBadLogin = &errs.Error{Code: errs.Unauthorized, Message: "The email or password is not right."}

// Login checks a password. addr is the client's address, for the limiter.
func (s *Service) Login(ctx context.Context, email, password, addr string) (User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	f := errs.Fields{}
	f.Check(email != "", "email", "Enter your email address.")
	f.Check(password != "", "password", "Enter your password.")
	f.Check(len(email) <= 254 && len(password) <= 512, "email", "The email or password is too long.")
	if err := f.Err(); err != nil {
		return User{}, err
	}
	// The attempt pays before it is judged, so a crowd of guesses arriving
	// at once gets no more judgements than the budgets allow. A failure
	// keeps its units; a success, or an attempt never judged, gives them
	// back, so right passwords never lock anyone out.
	if err := s.limits.takeLogin(ctx, email, addr); err != nil {
		return User{}, err
	}
	u, err := s.checkLogin(ctx, email, password)
	if !errors.Is(err, errBadLogin) {
		s.limits.giveBackLogin(ctx, email, addr)
	}
	return u, err
}

// checkLogin judges one attempt: the user, errBadLogin, or another error.
func (s *Service) checkLogin(ctx context.Context, email, password string) (User, error) {
	checked := time.Now() // before the stored hash is read (see User.CheckedAt)
	row, err := s.q.GetUserByEmail(ctx, email)
	if errors.Is(err, pgx.ErrNoRows) {
		// Hash anyway so that unknown emails take as long as wrong passwords.
		if _, err := s.hashes.check(ctx, dummyHash, password); err != nil {
			return User{}, err
		}
		return User{}, errBadLogin
	}
	if err != nil {
		return User{}, err
	}
	ok, err := s.hashes.check(ctx, row.PasswordHash, password)
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, errBadLogin
	}
	if row.DisabledAt != nil {
		return User{}, ErrDisabled
	}
	u := fromRow(row)
	u.CheckedAt = checked
	return u, nil
}

// ErrDisabled refuses a login (with the right password) to an account an
// admin disabled.
var ErrDisabled = errs.New(errs.Forbidden, "This account has been disabled. Write to the shop's support to have it reopened.")

// A fixed hash of a random password, for timing parity on unknown emails.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Ykc3fE6v3eS2B3k2S0s2GJ0Xj6m6d6n0rL4qfPpXkM"

// Get returns one user.
func (s *Service) Get(ctx context.Context, id int64) (User, error) {
	row, err := s.q.GetUser(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, errs.New(errs.NotFound, "No such account.")
	}
	if err != nil {
		return User{}, err
	}
	return fromRow(row), nil
}

// EnsureAdmin creates the configured admin, or resets its password and role.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if !ValidEmail(email) || len(password) < 8 {
		return User{}, errors.New("ADMIN_EMAIL must be an address and ADMIN_PASSWORD at least 8 characters")
	}
	// Skip the slow hash when the stored one already matches.
	if row, err := s.q.GetUserByEmail(ctx, email); err == nil && row.Role == RoleAdmin {
		if ok, _ := s.hashes.check(ctx, row.PasswordHash, password); ok {
			return fromRow(row), nil
		}
	}
	hash, err := s.hashes.hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	row, err := s.q.UpsertAdmin(ctx, db.UpsertAdminParams{Email: email, PasswordHash: hash, Name: "Admin"})
	if err != nil {
		return User{}, err
	}
	// A new password or a new role: no session keeps the old ones.
	if err := s.Sessions.EndAll(ctx, row.ID); err != nil {
		return User{}, err
	}
	return fromRow(row), nil
}

const notCurrentPassword = "That is not your current password."

// ChangePassword sets a new password after checking the current one, and
// ends every session of the user: a cookie taken before the change opens
// nothing after it.
// A wrong current password counts against the login budgets, like a wrong
// login (addr is the client's address).
func (s *Service) ChangePassword(ctx context.Context, userID int64, current, next, addr string) error {
	if current == "" { // asked for, not tried: no login attempt spent
		return &errs.Error{Code: errs.Invalid, Message: "Enter your current password.", Fields: map[string]string{"current_password": "Enter your current password."}}
	}
	row, err := s.q.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if err := s.limits.takeLogin(ctx, row.Email, addr); err != nil {
		return err
	}
	ok, err := s.hashes.check(ctx, row.PasswordHash, current)
	if err != nil || ok {
		s.limits.giveBackLogin(ctx, row.Email, addr)
	}
	if err != nil {
		return err
	}
	f := errs.Fields{}
	f.Check(ok, "current_password", notCurrentPassword)
	n := utf8.RuneCountInString(next)
	f.Check(n >= 8, "new_password", "Choose a password of at least 8 characters.")
	f.Check(n <= 128, "new_password", "A password can be at most 128 characters.")
	if err := f.Err(); err != nil {
		return err
	}
	hash, err := s.hashes.hash(ctx, next)
	if err != nil {
		return err
	}
	changed, err := s.q.SetPassword(ctx, db.SetPasswordParams{ID: userID, NewHash: hash, CheckedHash: row.PasswordHash})
	if err != nil {
		return err
	}
	if changed == 0 { // another change won since the check: current is no longer the password
		f.Check(false, "current_password", notCurrentPassword)
		return f.Err()
	}
	return s.Sessions.EndAll(ctx, userID)
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Count is the number of accounts.
func (s *Service) Count(ctx context.Context) (int64, error) {
	return s.q.CountUsers(ctx)
}
