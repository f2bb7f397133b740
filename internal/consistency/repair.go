package consistency

import (
	"context"
	"fmt"
	"time"

	"market/internal/errs"
)

// Repair actions (the form's "action"). Both are safe to run twice.
const (
	ActionRebuildCampaign    = repairRebuild
	ActionRedriveDeadLetters = repairRedrive
)

// RepairInput is the repair form, parsed.
type RepairInput struct {
	Action     string
	CampaignID int64 // required to rebuild; 0 re-drives every campaign's dead letters
	ActorID    int64
}

// Validate checks the action and its campaign.
func (in RepairInput) Validate() error {
	f := errs.Fields{}
	switch in.Action {
	case ActionRebuildCampaign:
		f.Check(in.CampaignID > 0, "campaign_id", "Choose the campaign to rebuild.")
	case ActionRedriveDeadLetters:
		f.Check(in.CampaignID >= 0, "campaign_id", "A campaign id is a positive number.")
	default:
		f.Add("action", "Choose a repair: rebuild_campaign or redrive_dead_letters.")
	}
	return f.Err()
}

// Repaired is a repair as stored in the history, and the report run right
// after it, so the admin sees at once whether it turned green.
type Repaired struct {
	Repair Report
	After  Report
}

// Repair runs one safe repair, records it with who ran it, and runs the
// report again. Ledger drift has no repair here by design: it is shown, with
// the rows that explain it, and never overwritten.
func (s *Service) Repair(ctx context.Context, in RepairInput) (Repaired, error) {
	if err := in.Validate(); err != nil {
		return Repaired{}, err
	}
	if s.coupons == nil {
		return Repaired{}, errs.New(errs.Unavailable, "Coupons are not connected to the consistency report.")
	}
	start := time.Now()
	var summary string
	ok := true
	switch in.Action {
	case ActionRebuildCampaign:
		r, err := s.coupons.Rebuild(ctx, in.CampaignID, fmt.Sprintf("admin %d repair from the consistency report", in.ActorID))
		if err != nil {
			return Repaired{}, err
		}
		summary = fmt.Sprintf("rebuilt campaign %d (%s) in Redis from PostgreSQL and pending claims: %d claims PostgreSQL lacked written back; now %d claimed, %d remaining",
			in.CampaignID, r.Campaign.Name, r.Persisted, r.Claimed, r.Remaining)
	case ActionRedriveDeadLetters:
		r, err := s.coupons.RedriveDeadLetters(ctx, in.CampaignID)
		if err != nil {
			return Repaired{}, err
		}
		scope := "every campaign"
		if in.CampaignID > 0 {
			scope = fmt.Sprintf("campaign %d", in.CampaignID)
		}
		summary = fmt.Sprintf("re-drove the dead letters of %s: %d found, %d coupons written, %d marked re-driven, %d still failing",
			scope, r.Tried, r.Persisted, r.Resolved, r.Failed)
		ok = r.Failed == 0
	}
	rep, err := s.RecordRepair(ctx, in.ActorID, summary, ok, time.Since(start))
	if err != nil {
		return Repaired{}, err
	}
	s.log.Info("consistency repair", "actor", in.ActorID, "action", in.Action, "campaign", in.CampaignID, "summary", summary)
	after, err := s.Run(ctx, "repair", &in.ActorID)
	return Repaired{Repair: rep, After: after}, err
}
