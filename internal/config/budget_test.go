package config

import (
	"strings"
	"testing"
	"time"
)

// The hardening settings default to what the README says and can be changed.
func TestTimeoutsAndTopUpLimitDefaultsAndOverrides(t *testing.T) {
	c, err := FromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.StatementTimeout != 5*time.Second || c.IdleInTxTimeout != 10*time.Second || c.AdminStatementTimeout != time.Hour ||
		c.BodyReadTimeout != 30*time.Second || c.TopUpDailyLimit != 5_000_000 {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = FromEnv(envOf(map[string]string{"STATEMENT_TIMEOUT": "2s", "IDLE_IN_TRANSACTION_TIMEOUT": "3s",
		"ADMIN_STATEMENT_TIMEOUT": "0", "BODY_READ_TIMEOUT": "1m", "TOPUP_DAILY_LIMIT": "20000000"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StatementTimeout != 2*time.Second || c.IdleInTxTimeout != 3*time.Second || c.AdminStatementTimeout != 0 ||
		c.BodyReadTimeout != time.Minute || c.TopUpDailyLimit != 20_000_000 {
		t.Fatalf("overrides: %+v", c)
	}
	for _, v := range []string{"0", "-5", "lots"} {
		if _, err := FromEnv(envOf(map[string]string{"TOPUP_DAILY_LIMIT": v})); err == nil || !strings.Contains(err.Error(), "TOPUP_DAILY_LIMIT") {
			t.Errorf("TOPUP_DAILY_LIMIT=%s: %v", v, err)
		}
	}
}
