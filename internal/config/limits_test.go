package config

import (
	"strings"
	"testing"
	"time"
)

func TestRateLimitsHaveSpecDefaultsAndCanBeRaisedForLoadTests(t *testing.T) {
	c, err := FromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.LoginFailuresPerEmail != 10 || c.LoginFailuresPerAddr != 100 || c.LoginWindow != 15*time.Minute || c.SignupLimitPerAddr != 20 || c.PasswordHashConcurrency != 0 {
		t.Fatalf("defaults: per email %d, per address %d, window %v, sign-ups %d, hashes %d",
			c.LoginFailuresPerEmail, c.LoginFailuresPerAddr, c.LoginWindow, c.SignupLimitPerAddr, c.PasswordHashConcurrency)
	}
	c, err = FromEnv(envOf(map[string]string{"SIGNUP_LIMIT_PER_ADDR": "1000000", "LOGIN_FAILURES_PER_ADDR": "1000000", "PASSWORD_HASH_CONCURRENCY": "8"}))
	if err != nil || c.SignupLimitPerAddr != 1_000_000 || c.LoginFailuresPerAddr != 1_000_000 || c.PasswordHashConcurrency != 8 {
		t.Fatalf("raised limits: %v %+v", err, c)
	}
}

func TestRateLimitsRefuseValuesThatWouldTurnThemOff(t *testing.T) {
	for _, env := range []map[string]string{
		{"SIGNUP_LIMIT_PER_ADDR": "0"},
		{"SIGNUP_LIMIT_PER_ADDR": "-5"},
		{"SIGNUP_LIMIT_PER_ADDR": "lots"},
		{"LOGIN_FAILURES_PER_EMAIL": "0"},
		{"LOGIN_FAILURES_PER_ADDR": "0"},
		{"LOGIN_WINDOW": "0s"},
		{"LOGIN_WINDOW": "10ms"},
		{"PASSWORD_HASH_CONCURRENCY": "-1"},
	} {
		for key := range env {
			if _, err := FromEnv(envOf(env)); err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%v: err = %v, want one naming %s", env, err, key)
			}
		}
	}
}
