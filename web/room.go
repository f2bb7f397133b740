package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"market/internal/reqctx"
	"market/internal/room"
	"market/views"
)

// The waiting room in front of claims (docs/HTTP.md, "Waiting room";
// internal/room): a claim passes it, or is answered with the shopper's
// ticket, whose page shows the place in line live until the turn comes.

// maxTicket bounds a presented ticket; a real one is about 120 characters.
const maxTicket = 512

// passRoom lets a claim through the waiting room: nil when it may claim now
// (no room, the room skipped, or an admitted ticket), the ticket when its
// turn has not come, or why a presented ticket is refused. A ticket the
// request carries is checked by its signature alone; without one the
// shopper enters the room (and gets back the ticket the session holds).
func (s *Server) passRoom(r *http.Request, campaignID int64, token string) (*room.Ticket, error) {
	if s.Room == nil {
		return nil, nil
	}
	u, sid, now := currentUser(r), reqctx.SessionID(r.Context()), time.Now()
	if token != "" {
		t, err := s.Room.Open(token, campaignID, u.ID, sid, now)
		if err != nil || t.AdmittedAt(now) {
			return nil, err
		}
		return &t, nil
	}
	p, err := s.Room.Enter(r.Context(), campaignID, u.ID, sid)
	if err != nil || p.Admitted(now) {
		return nil, err
	}
	return &p.Ticket, nil
}

// ticketOf reads the claim form's optional ticket.
func ticketOf(r *http.Request) (string, error) {
	f, err := parseForm(r)
	if err != nil {
		return "", err
	}
	t := f.values["ticket"]
	if len(t) > maxTicket {
		return "", room.ErrTicketInvalid
	}
	return t, nil
}

func (s *Server) roomView(campaignID int64, t room.Ticket, now time.Time) views.RoomView {
	return views.RoomView{CampaignID: campaignID, Ticket: t.Token, Place: s.Room.Place(t, now), Wait: t.Wait(now), Admitted: t.AdmittedAt(now)}
}

// roomJSON is a ticket's state in JSON (the claim's waiting_room answer and
// GET /coupons/{id}/room).
func (s *Server) roomJSON(campaignID int64, t room.Ticket, now time.Time) map[string]any {
	return map[string]any{
		"campaign_id":  campaignID,
		"ticket":       t.Token,
		"number":       t.Seq,
		"place":        s.Room.Place(t, now),
		"wait_seconds": t.Wait(now).Seconds(),
		"admit_at":     t.AdmitAt.Format(time.RFC3339Nano),
		"admitted":     t.AdmittedAt(now),
		"expires_at":   t.AdmitAt.Add(s.Room.Window()).Format(time.RFC3339Nano),
		"room_url":     "/coupons/" + strconv.FormatInt(campaignID, 10) + "/room?ticket=" + t.Token,
	}
}

// waitInLine answers a claim whose turn has not come: 429 waiting_room with
// the ticket and Retry-After (JSON), the waiting panel in the card's claim
// area (htmx), or the waiting room page (a browser's form).
func (s *Server) waitInLine(w http.ResponseWriter, r *http.Request, campaignID int64, t room.Ticket) error {
	now := time.Now()
	v := s.roomView(campaignID, t, now)
	if !wantsJSON(r) && !isPartial(r) {
		redirect(w, r, "/coupons/"+strconv.FormatInt(campaignID, 10)+"/room?ticket="+t.Token)
		return nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((v.Wait+time.Second-1)/time.Second))))
	if isPartial(r) {
		// The panel takes the whole claim area, button included, until the turn.
		w.Header().Set("HX-Retarget", "#claim-area-"+strconv.FormatInt(campaignID, 10))
		w.Header().Set("HX-Reswap", "innerHTML")
	}
	js := s.roomJSON(campaignID, t, now)
	js["code"] = string(room.CodeWaiting)
	js["error"] = views.RoomPlace(v.Place, v.Wait)
	return s.render(w, r, answer{Status: http.StatusTooManyRequests, Fragment: views.RoomPanel(v), JSON: js})
}

// roomPage is GET /coupons/{id}/room?ticket=…: the ticket's place as a page,
// the panel (htmx), JSON, or a live stream of it.
func (s *Server) roomPage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "campaignID")
	if err != nil {
		return err
	}
	if s.Room == nil {
		return errNotFound
	}
	token := r.URL.Query().Get("ticket")
	if len(token) > maxTicket {
		return room.ErrTicketInvalid
	}
	now := time.Now()
	t, err := s.Room.Open(token, id, currentUser(r).ID, reqctx.SessionID(r.Context()), now)
	if err != nil {
		return err
	}
	if wantsStream(r) {
		return s.streamRoom(w, r, id, t)
	}
	v := s.roomView(id, t, now)
	return s.render(w, r, answer{Page: views.RoomPage(v), Fragment: views.RoomPanel(v), JSON: s.roomJSON(id, t, now)})
}

// streamRoom sends the ticket's place every second ("place": the sentence),
// then, at its turn, the Claim button with the ticket ("admitted": the
// claim area's new content) and ends. Nothing is read from Redis: the turn
// is in the ticket.
func (s *Server) streamRoom(w http.ResponseWriter, r *http.Request, id int64, t room.Ticket) error {
	release, err := s.Room.Watch()
	if err != nil {
		return err // 503 busy: the panel offers "Check my place"
	}
	defer release()
	send := openEventStream(w)
	if !send(fmt.Appendf(nil, "retry: %d\n\n", streamRetry.Milliseconds())) {
		return nil
	}
	for {
		now := time.Now()
		v := s.roomView(id, t, now)
		if v.Admitted {
			var b strings.Builder
			if err := views.RoomAdmitted(id, t.Token).Render(r.Context(), &b); err != nil {
				return nil // the stream has begun: a render error can only end it
			}
			send(sseEvent("admitted", b.String()))
			return nil
		}
		if !send(sseEvent("place", views.RoomPlace(v.Place, v.Wait))) {
			return nil
		}
		wake := time.NewTimer(min(time.Second, v.Wait))
		select {
		case <-r.Context().Done():
			wake.Stop()
			return nil
		case <-s.Room.Ended():
			wake.Stop()
			return nil
		case <-wake.C:
		}
	}
}

// sseEvent is one event; each line of data gets its own "data:" field.
func sseEvent(name, data string) []byte {
	b := []byte("event: " + name + "\n")
	for line := range strings.SplitSeq(data, "\n") {
		b = append(b, "data: "...)
		b = append(b, line...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}
