package cti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/softphone"
)

// Desk connects the desktop API to the orchestrator: it implements
// desktop.Handler, turning commands into orchestrator calls and errors into the
// API's stable codes, and negotiates each agent's softphone session.
type Desk struct {
	audit  func(store.AuditEntry) error
	o      *Orchestrator
	gw     *softphone.Gateway // nil: no browser audio
	media  *AgentMedia
	notify Notifier
	log    zerolog.Logger
	peers  peerBook // browser peer connection per softphone session (deskpeer.go)

	takeOverWait time.Duration // see DeskParams.TakeOverWait
}

// DeskParams are the Desk's dependencies.
type DeskParams struct {
	Orchestrator *Orchestrator
	// Audit receives every supervisor action (nil: logged only).
	Audit   func(store.AuditEntry) error
	Gateway *softphone.Gateway
	Media   *AgentMedia
	Notify  Notifier // the desktop server (for rtc.answer / rtc.candidate)
	Log     zerolog.Logger
	// TakeOverWait bounds how long a desktop connecting right after start waits for
	// the take-over of an earlier run's calls (Orchestrator.TakeOverDone), so that
	// its first snapshot already has its restored call; past it the desktop is
	// served anyway (with a log line) and the restored call follows as events.
	// 0 means DefaultTakeOverWait; negative means no wait.
	TakeOverWait time.Duration
}

// DefaultTakeOverWait is DeskParams.TakeOverWait's default.
const DefaultTakeOverWait = 5 * time.Second

// NewDesk builds the handler.
func NewDesk(p DeskParams) (*Desk, error) {
	if p.Orchestrator == nil {
		return nil, fmt.Errorf("%w: desk needs the orchestrator", ErrInvalidConfig)
	}
	if p.Gateway != nil && p.Media == nil {
		return nil, fmt.Errorf("%w: desk with a softphone gateway needs AgentMedia", ErrInvalidConfig)
	}
	wait := p.TakeOverWait
	if wait == 0 {
		wait = DefaultTakeOverWait
	}
	return &Desk{audit: p.Audit, o: p.Orchestrator, gw: p.Gateway, media: p.Media, notify: p.Notify, log: p.Log,
		takeOverWait: wait}, nil
}

// SetNotifier sets where softphone signalling goes (the desktop server is built
// after the Desk it takes as handler).
func (d *Desk) SetNotifier(n Notifier) { d.notify = n }

// SessionOpened signs the agent in on their first desktop connection. Right after
// a start it first waits (bounded) for the take-over of the calls an earlier run
// left, so that the desktop's first snapshot has its restored call; the session's
// snapshot follows this call.
func (d *Desk) SessionOpened(p desktop.Principal) {
	d.awaitTakeOver(p.User)
	if p.Role != desktop.RoleAgent {
		return
	}
	d.o.DesktopOpened(p.User)
	ctx, cancel := context.WithTimeout(context.Background(), d.o.cfg.OpTimeout)
	defer cancel()
	if err := d.o.AgentLogin(ctx, p.User); err != nil && !errors.Is(err, queue.ErrAlreadyLoggedIn) {
		d.log.Warn().Err(err).Str("agent", p.User).Msg("agent login on desktop connect")
	}
}

// awaitTakeOver returns once the first take-over is done, or after takeOverWait.
// It blocks only this user's session start (desktop.Hub calls SessionOpened
// outside its lock).
func (d *Desk) awaitTakeOver(user string) {
	done := d.o.TakeOverDone()
	select {
	case <-done:
		return
	default:
	}
	if d.takeOverWait < 0 {
		return
	}
	t := time.NewTimer(d.takeOverWait)
	defer t.Stop()
	select {
	case <-done:
		d.log.Info().Str("user", user).Msg("desktop waited for the take-over of the earlier run's calls")
	case <-t.C:
		d.log.Warn().Str("user", user).Dur("waited", d.takeOverWait).
			Msg("desktop served before the take-over of the earlier run's calls finished; a restored call will follow as events")
	}
}

// SessionClosed keeps the agent logged in and their calls up for the grace period
// (calls.desktop_grace): a desktop that reconnects resumes. After it the agent is
// logged out and their caller queued again (presence.go).
func (d *Desk) SessionClosed(p desktop.Principal, reason string) {
	d.log.Info().Str("agent", p.User).Str("reason", reason).Msg("desktop disconnected")
	if p.Role == desktop.RoleAgent && reason != desktop.ReasonReplaced && reason != desktop.ReasonShutdown {
		d.o.DesktopClosed(p.User)
	}
}

// Snapshot is the agent's view of the engine for a desktop that resumes too late.
func (d *Desk) Snapshot(ctx context.Context, p desktop.Principal) (map[string]any, error) {
	s, err := d.o.Snapshot(ctx)
	if err != nil {
		return nil, d.apiError(err)
	}
	out := map[string]any{"at": s.At}
	for _, a := range s.Agents {
		if string(a.ID) == p.User {
			out["agent"] = map[string]any{"agent": string(a.ID), "state": a.State.String(), "reason": a.Reason,
				"since": a.Since, "call_id": string(a.Call), "queues": a.Queues}
		}
	}
	if p.Role >= desktop.RoleSupervisor {
		agents := make([]map[string]any, 0, len(s.Agents))
		for _, a := range s.Agents {
			agents = append(agents, map[string]any{"agent": string(a.ID), "state": a.State.String(), "reason": a.Reason, "since": a.Since})
		}
		out["agents"] = agents
	}
	return out, nil
}

// HandleCommand executes one desktop command.
func (d *Desk) HandleCommand(ctx context.Context, p desktop.Principal, c desktop.Command) (desktop.Result, error) {
	agent, call := p.User, c.CallID()
	var err error
	switch c.Name {
	case "agent.ready":
		if err = d.audioPath(ctx, agent); err == nil {
			err = d.o.AgentReady(ctx, agent)
		}
	case "agent.not_ready":
		err = d.o.AgentNotReady(ctx, agent, c.String("reason"))
	case "agent.logout":
		err = d.o.AgentLogout(ctx, agent)
	case "call.accept":
		err = d.o.Accept(ctx, agent, call)
	case "call.reject":
		err = d.o.Reject(ctx, agent, call)
	case "call.hold":
		err = d.o.Hold(ctx, agent, call)
	case "call.unhold":
		err = d.o.Unhold(ctx, agent, call)
	case "call.mute":
		err = d.o.Mute(ctx, agent, call, true)
	case "call.unmute":
		err = d.o.Mute(ctx, agent, call, false)
	case "call.dtmf":
		err = d.o.DTMF(ctx, agent, call, c.String("digits"))
	case "call.hangup":
		err = d.o.Hangup(ctx, agent, call)
	case "call.record.start", "call.record.pause", "call.record.resume", "call.record.stop":
		err = d.o.RecordControl(ctx, agent, call, strings.TrimPrefix(c.Name, "call.record."))
	case "wrapup.done":
		var a desktop.WrapupArgs
		var shared struct {
			CallbackShared bool `json:"callback_shared"` // a campaign callback any agent may take
		}
		if err = c.Decode(&a); err == nil {
			if err = c.Decode(&shared); err == nil {
				err = d.o.WrapUpDone(ctx, agent, WrapUpResult{CallID: a.CallID, Disposition: a.Disposition, Notes: a.Notes,
					CallbackAt: a.CallbackAt, CallbackShared: shared.CallbackShared})
			}
		}
	case "call.transfer":
		var a desktop.TransferArgs
		if err = c.Decode(&a); err != nil {
			break
		}
		switch {
		case a.Mode == "blind" && a.To.Queue != "":
			err = d.o.TransferToQueue(ctx, agent, a.CallID, a.To.Queue)
		case a.Mode == "attended":
			err = d.o.ConsultTo(ctx, agent, a.CallID, ConsultTarget{Agent: a.To.Agent, Queue: a.To.Queue, Number: a.To.Number})
		case a.Mode == "blind" && a.To.Agent != "":
			err = d.o.TransferToAgent(ctx, agent, a.CallID, a.To.Agent)
		case a.Mode == "blind" && a.To.Number != "":
			err = d.o.TransferToNumber(ctx, agent, a.CallID, a.To.Number)
		default:
			return nil, desktop.Errorf("invalid_argument", "call.transfer needs mode blind or attended and exactly one of to.agent, to.queue, to.number")
		}
	case "call.transfer.complete":
		err = d.o.EndConsult(ctx, agent, call, ConsultComplete)
	case "call.transfer.cancel":
		err = d.o.EndConsult(ctx, agent, call, ConsultCancel)
	case "call.conference":
		err = d.o.EndConsult(ctx, agent, call, ConsultConference)
	case "supervisor.listen", "supervisor.whisper", "supervisor.barge":
		target := c.String("agent")
		if err = d.mayManage(ctx, p, target); err == nil {
			err = d.o.Supervise(ctx, p.User, target, strings.TrimPrefix(c.Name, "supervisor."))
		}
		d.record(p, c.Name, target, "", err)
	case "supervisor.set_state":
		var a desktop.SetStateArgs
		if err = c.Decode(&a); err != nil {
			break
		}
		if err = d.mayManage(ctx, p, a.Agent); err == nil {
			err = d.setState(ctx, a)
		}
		d.record(p, c.Name, a.Agent, fmt.Sprintf("state=%s reason=%q", a.State, a.Reason), err)
	case "call.dial":
		var a desktop.DialArgs
		if err = c.Decode(&a); err != nil {
			break
		}
		id, derr := d.o.ManualDial(ctx, agent, a.Number, a.CampaignID)
		if derr != nil {
			return nil, d.apiError(derr)
		}
		return desktop.Result{"call_id": id}, nil
	case "campaign.start", "campaign.pause", "campaign.stop":
		id := c.String("campaign_id")
		if err = d.mayRunCampaign(p, id); err != nil {
			d.record(p, c.Name, "", "campaign="+id, err)
			break
		}
		switch c.Name {
		case "campaign.start":
			err = d.o.CampaignStart(ctx, id)
		case "campaign.pause":
			err = d.o.CampaignPause(ctx, id)
		default:
			err = d.o.CampaignStop(ctx, id)
		}
		d.record(p, c.Name, "", "campaign="+id, err)
	case "rtc.offer":
		return d.rtcOffer(ctx, agent, c.String("sdp"))
	case "rtc.candidate":
		err = d.rtcCandidate(ctx, agent, c)
	case "rtc.config":
		return d.rtcConfig(), nil
	default:
		return nil, desktop.Errorf("invalid_state", "%s is not available in this version of ctid yet", c.Name)
	}
	if err != nil {
		return nil, d.apiError(err)
	}
	return desktop.Result{}, nil
}

// mayManage allows an admin everything and a supervisor the agents of their teams
// (the queues listed in the supervisor's teams).
func (d *Desk) mayManage(ctx context.Context, p desktop.Principal, agent string) error {
	if p.Role >= desktop.RoleAdmin {
		return nil
	}
	s, err := d.o.Snapshot(ctx)
	if err != nil {
		return err
	}
	for _, a := range s.Agents {
		if string(a.ID) != agent {
			continue
		}
		for _, q := range a.Queues {
			for _, t := range p.Teams {
				if string(q) == t {
					return nil
				}
			}
		}
		return desktop.Errorf("forbidden", "agent %s is not in your teams", agent)
	}
	return desktop.Errorf("not_found", "no agent %s", agent)
}

// mayRunCampaign allows an admin every campaign and a supervisor the campaigns of
// their teams (a campaign with no teams: any supervisor).
func (d *Desk) mayRunCampaign(p desktop.Principal, id string) error {
	teams, err := d.o.CampaignTeams(id)
	if err != nil || p.Role >= desktop.RoleAdmin || len(teams) == 0 {
		return err
	}
	for _, t := range teams {
		if slices.Contains(p.Teams, t) {
			return nil
		}
	}
	return desktop.Errorf("forbidden", "campaign %s is not run by your teams", id)
}

// record writes a supervisor action to the audit log, whether it succeeded or not.
func (d *Desk) record(p desktop.Principal, action, target, detail string, err error) {
	if err != nil {
		detail += " error=" + err.Error()
	}
	d.log.Info().Str("actor", p.User).Str("action", action).Str("agent", target).Str("detail", detail).Msg("supervisor action")
	if d.audit == nil {
		return
	}
	if aerr := d.audit(store.AuditEntry{Actor: p.User, Action: action, Target: target, At: time.Now(), Detail: detail}); aerr != nil {
		d.log.Error().Err(aerr).Str("actor", p.User).Str("action", action).Msg("audit entry not queued")
	}
}

func (d *Desk) setState(ctx context.Context, a desktop.SetStateArgs) error {
	switch a.State {
	case "ready":
		return d.o.AgentReady(ctx, a.Agent)
	case "not_ready":
		return d.o.AgentNotReady(ctx, a.Agent, a.Reason)
	default:
		return d.o.AgentLogout(ctx, a.Agent)
	}
}

func (d *Desk) rtcOffer(ctx context.Context, agent, sdp string) (desktop.Result, error) {
	if d.gw == nil {
		return nil, desktop.Errorf("invalid_state", "browser audio is not enabled on this ctid (softphone)")
	}
	s, err := d.session(ctx, agent, sdp)
	if err != nil {
		return nil, d.apiError(err)
	}
	if _, err := s.Offer(ctx, sdp); err != nil {
		return nil, d.apiError(err)
	}
	d.o.SoftphoneReady(agent) // a call restored after a restart gets its audio back
	// The answer goes out as rtc.answer from OnAnswer, ahead of its candidates.
	return desktop.Result{}, nil
}

func (d *Desk) rtcCandidate(ctx context.Context, agent string, c desktop.Command) error {
	if d.gw == nil {
		return desktop.Errorf("invalid_state", "browser audio is not enabled on this ctid (softphone)")
	}
	s, err := d.media.session(agent)
	if err != nil {
		return err
	}
	raw, ok := c.Args["candidate"]
	if !ok {
		return desktop.Errorf("invalid_argument", "rtc.candidate needs candidate")
	}
	var cand webrtc.ICECandidateInit
	if err := json.Unmarshal(raw, &cand); err != nil {
		var line string
		if json.Unmarshal(raw, &line) != nil {
			return desktop.Errorf("invalid_argument", "candidate must be an RTCIceCandidateInit object or a string")
		}
		cand = webrtc.ICECandidateInit{Candidate: line}
	}
	return s.AddCandidate(ctx, cand)
}

// session returns the agent's softphone session, creating it on the first offer
// and when the offer comes from a new browser peer connection (a reloaded console).
func (d *Desk) session(ctx context.Context, agent, offer string) (*softphone.Session, error) {
	if s, err := d.media.session(agent); err == nil && !d.peers.newPeer(s, offer) {
		return s, nil
	}
	var self atomic.Pointer[softphone.Session] // for OnState, set once NewSession returns
	s, err := d.gw.NewSession(softphone.SessionParams{
		Agent:    agent,
		OnAnswer: func(sdp string) { d.publish(agent, "rtc.answer", map[string]any{"sdp": sdp}) },
		OnCandidate: func(c *webrtc.ICECandidateInit) {
			if c == nil {
				d.publish(agent, "rtc.candidate", map[string]any{"candidate": nil})
				return
			}
			d.publish(agent, "rtc.candidate", map[string]any{"candidate": c})
		},
		OnState: func(st softphone.State) {
			d.publish(agent, "rtc.state", map[string]any{"state": st.String()})
			if me := self.Load(); st == softphone.StateFailed && me != nil {
				d.audioLost(agent, me)
			} else if st == softphone.StateConnected && me != nil {
				d.audioBack(agent, me)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	self.Store(s)
	d.peers.remember(s, offer)
	if old := d.media.SetSession(agent, s); old != nil {
		d.handOver(ctx, agent, old, s)
	}
	return s, nil
}

func (d *Desk) publish(user, event string, f map[string]any) {
	if d.notify != nil {
		d.notify.Publish(user, event, f)
	}
}

// apiError maps orchestrator, engine and softphone errors to the API's stable codes.
func (d *Desk) apiError(err error) error {
	var de *desktop.Error
	switch {
	case errors.As(err, &de):
		return de
	case errors.Is(err, ErrDoNotCall):
		return desktop.Errorf("forbidden", "%v", err)
	case errors.Is(err, ErrBadDisposition):
		return desktop.Errorf("invalid_argument", "%v", err)
	case errors.Is(err, errCampaignGone):
		return desktop.Errorf("invalid_state", "the campaign has ended")
	case errors.Is(err, ErrNoAgents), errors.Is(err, ErrCampaignOver), errors.Is(err, ErrInvalidConfig):
		return desktop.Errorf("invalid_state", "%v", err)
	case errors.Is(err, ErrUnknownCampaign), errors.Is(err, ErrUnknownCall), errors.Is(err, queue.ErrUnknownCall),
		errors.Is(err, queue.ErrUnknownAgent), errors.Is(err, queue.ErrUnknownQueue):
		return desktop.Errorf("not_found", "%v", err)
	case errors.Is(err, ErrNotYourCall), errors.Is(err, queue.ErrNotOffered):
		return desktop.Errorf("forbidden", "%v", err)
	case errors.Is(err, ErrCallState), errors.Is(err, ErrNoAudioPath), errors.Is(err, queue.ErrInvalidTransition),
		errors.Is(err, queue.ErrOfferTimedOut), errors.Is(err, queue.ErrOfferWithdrawn), errors.Is(err, queue.ErrCallState),
		errors.Is(err, queue.ErrAlreadyLoggedIn):
		return desktop.Errorf("invalid_state", "%v", err)
	case errors.Is(err, softphone.ErrNoAudio), errors.Is(err, softphone.ErrNoCommonCodec), errors.Is(err, softphone.ErrInvalidOffer),
		errors.Is(err, queue.ErrBadPriority), errors.Is(err, queue.ErrBadSkillExpr), errors.Is(err, ErrBadTarget):
		return desktop.Errorf("invalid_argument", "%v", err)
	}
	d.log.Error().Err(err).Msg("desktop command failed")
	return desktop.Errorf("internal", "internal error")
}
