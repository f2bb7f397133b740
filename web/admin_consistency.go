package web

import (
	"net/http"
	"strconv"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"market/internal/consistency"
	"market/internal/errs"
	"market/views"
)

func (s *Server) consistencyRoutes(r chi.Router) {
	r.Get("/consistency", s.h(s.consistencyPage))
	r.Post("/consistency/run", s.h(s.consistencyRun))
	r.Post("/consistency/repair", s.h(s.consistencyRepair))
}

func (s *Server) consistencyPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var (
		rep    consistency.Report
		hasRun bool
		err    error
	)
	if raw := r.URL.Query().Get("run"); raw != "" {
		id, perr := strconv.ParseInt(raw, 10, 64)
		if perr != nil || id <= 0 {
			return errs.New(errs.NotFound, "No such consistency run.")
		}
		rep, err = s.Consistency.Get(ctx, id)
		hasRun = err == nil
	} else {
		rep, hasRun, err = s.Consistency.Last(ctx)
	}
	if err != nil {
		return err
	}
	history, err := s.Consistency.History(ctx, 20)
	if err != nil {
		return err
	}
	return s.render(w, r, answer{
		Page:     views.ConsistencyPage(views.ConsistencyView{Report: rep, HasRun: hasRun, History: history}),
		Fragment: views.ConsistencyReport(rep, hasRun),
		JSON:     reportJSON(rep, hasRun),
	})
}

func (s *Server) consistencyRun(w http.ResponseWriter, r *http.Request) error {
	id := currentUser(r).ID
	rep, err := s.Consistency.Run(r.Context(), "manual", &id)
	if err != nil {
		return err
	}
	if !wantsJSON(r) && !isPartial(r) {
		kind, msg := "success", "The report is green: "+rep.Summary+"."
		if !rep.OK {
			kind, msg = "error", "The report is red: "+rep.Summary+"."
		}
		s.sessions.flash(w, r, kind, msg)
		redirect(w, r, "/admin/consistency")
		return nil
	}
	frag, err := s.withHistory(r, views.ConsistencyReport(rep, true))
	if err != nil {
		return err
	}
	return s.render(w, r, answer{Fragment: frag, Page: frag, JSON: reportJSON(rep, true)})
}

// reportJSON is the report of docs/HTTP.md: {"id", "ok", "ran_at", "took_ms", "summary",
// "checks": [{"name", "subject", "ok", "left", "right", "detail"}]}.
func reportJSON(r consistency.Report, hasRun bool) map[string]any {
	if !hasRun {
		return map[string]any{"ok": false, "ran_at": nil, "checks": []consistency.Check{}}
	}
	return map[string]any{"id": r.ID, "ok": r.OK, "ran_at": r.RanAt, "took_ms": r.TookMS, "summary": r.Summary, "checks": r.Checks}
}

// consistencyRepair runs one safe repair (action rebuild_campaign with
// campaign_id, or redrive_dead_letters with an optional campaign_id), then
// the report again.
func (s *Server) consistencyRepair(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	in := consistency.RepairInput{
		Action:     f.str("action", 40),
		CampaignID: f.int64("campaign_id", 0, 1<<53, false, 0),
		ActorID:    currentUser(r).ID,
	}
	if err := f.err(); err != nil {
		return err
	}
	res, err := s.Consistency.Repair(r.Context(), in)
	if err != nil {
		return err
	}
	if !wantsJSON(r) && !isPartial(r) {
		kind := "success"
		if !res.Repair.OK || !res.After.OK {
			kind = "error"
		}
		s.sessions.flash(w, r, kind, "Repair #"+strconv.FormatInt(res.Repair.ID, 10)+": "+res.Repair.Summary+". The report now says: "+res.After.Summary+".")
		redirect(w, r, "/admin/consistency")
		return nil
	}
	j := reportJSON(res.After, true)
	j["repair"] = map[string]any{"id": res.Repair.ID, "ok": res.Repair.OK, "summary": res.Repair.Summary, "action": in.Action, "campaign_id": in.CampaignID, "actor_id": in.ActorID}
	frag, err := s.withHistory(r, views.ConsistencyRepaired(res.Repair, res.After))
	if err != nil {
		return err
	}
	return s.render(w, r, answer{Fragment: frag, Page: frag, JSON: j})
}

// withHistory adds the refreshed history, swapped out of band, to a fragment.
func (s *Server) withHistory(r *http.Request, frag templ.Component) (templ.Component, error) {
	if wantsJSON(r) {
		return frag, nil
	}
	history, err := s.Consistency.History(r.Context(), 20)
	if err != nil {
		return nil, err
	}
	return templ.Join(frag, views.ConsistencyHistory(history, true)), nil
}
