package account_test

import (
	"testing"
	"time"

	"market/internal/account"
	"market/internal/testenv"
)

// Two instances share Redis: a session ended on one is refused there at once
// and on the other within the one second it may trust a session it saw open.
func TestAnEndedSessionIsRefusedOnEveryInstance(t *testing.T) {
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	a, b := account.NewSessions(srv.Client(), account.SessionMaxAge), account.NewSessions(srv.Client(), account.SessionMaxAge)
	ctx := t.Context()
	sid, err := a.Start(ctx, 7, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*account.Sessions{a, b} {
		if ok, err := s.Valid(ctx, 7, sid); !ok || err != nil {
			t.Fatalf("a new session should be open everywhere: %v %v", ok, err)
		}
	}
	if ok, _ := b.Valid(ctx, 8, sid); ok {
		t.Fatal("a session id opened another user's account")
	}
	ended := time.Now()
	if err := a.End(ctx, 7, sid); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Valid(ctx, 7, sid); ok {
		t.Fatal("the instance that ended the session still accepts it")
	}
	for {
		ok, err := b.Valid(ctx, 7, sid)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Since(ended) > 1500*time.Millisecond {
			t.Fatal("the other instance still accepts the session after its second of trust")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A login that checked the password before all sessions were ended (a
// password change meanwhile) gets no session; one that checked after does.
func TestALoginRacingAPasswordChangeGetsNoSession(t *testing.T) {
	s := account.NewSessions(testenv.Redis(t), account.SessionMaxAge)
	ctx := t.Context()
	checked := time.Now()
	time.Sleep(2 * time.Millisecond)
	if err := s.EndAll(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, 9, checked); err != account.ErrSessionsEnded {
		t.Fatalf("a login that checked the old password: %v", err)
	}
	sid, err := s.Start(ctx, 9, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Valid(ctx, 9, sid); !ok || err != nil {
		t.Fatalf("a login after the change: %v %v", ok, err)
	}
}

// A session ends on the server when its lifetime is over, whatever the cookie says.
func TestASessionEndsAfterItsLifetimeOnTheServer(t *testing.T) {
	s := account.NewSessions(testenv.Redis(t), 300*time.Millisecond)
	ctx := t.Context()
	sid, err := s.Start(ctx, 5, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1300 * time.Millisecond) // past the lifetime and the one-second trust
	if ok, _ := s.Valid(ctx, 5, sid); ok {
		t.Fatal("a session outlived its lifetime")
	}
}
