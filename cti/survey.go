package cti

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony"
)

// Survey question kinds (queues[].survey.questions[].kind).
const (
	SurveyNPS  = "nps"  // 0-10: "how likely are you to recommend us"
	SurveyCSAT = "csat" // 1-5: "how satisfied were you"
)

// SurveyQuestion is one question of a post-call survey.
type SurveyQuestion struct {
	Kind   string   // nps or csat
	Prompt []string // media played before the caller answers, e.g. sound:ctid-survey-nps
}

// QueueSurvey is a queue's post-call survey: when the agent hangs up first, the
// caller stays in ctid, hears Intro then each question's prompt and answers with
// DTMF. A CSAT answer is one key 1-5. An NPS answer is one key 0-9, or 1 then 0
// for 10: after a 1 ctid waits DigitTimeout for a 0 (# ends the answer at once,
// so "1#" is 1 without the wait). No key within AnswerTimeout after the prompt,
// or an invalid answer, plays Invalid and asks again once; a second failure skips
// the question (nothing stored). After the last question Goodbye plays and ctid
// hangs up. Each answer is stored at once, linked to the interaction and agent.
type QueueSurvey struct {
	Queue         string
	Intro         []string // played once before the first question (optional)
	Questions     []SurveyQuestion
	Invalid       []string // played before a question is asked again (optional)
	Goodbye       []string // played before the hang-up (optional)
	AnswerTimeout time.Duration
	DigitTimeout  time.Duration
}

// Survey defaults.
const (
	DefaultSurveyAnswerTimeout = 5 * time.Second
	DefaultSurveyDigitTimeout  = 2 * time.Second
	// surveyPlayMax bounds one prompt whose playback never reports its end.
	surveyPlayMax = 60 * time.Second
)

func validateSurveys(ss []QueueSurvey) error {
	seen := map[string]bool{}
	for i, s := range ss {
		if s.Queue == "" || seen[s.Queue] {
			return fmt.Errorf("%w: queues[%d].survey: queue %q: one survey per queue", ErrInvalidConfig, i, s.Queue)
		}
		seen[s.Queue] = true
		if len(s.Questions) == 0 {
			return fmt.Errorf("%w: queues[%d].survey.questions: at least one question", ErrInvalidConfig, i)
		}
		for j, q := range s.Questions {
			if q.Kind != SurveyNPS && q.Kind != SurveyCSAT {
				return fmt.Errorf("%w: queues[%d].survey.questions[%d].kind: %q: must be nps or csat", ErrInvalidConfig, i, j, q.Kind)
			}
			if len(q.Prompt) == 0 {
				return fmt.Errorf("%w: queues[%d].survey.questions[%d].prompt: must name at least one sound", ErrInvalidConfig, i, j)
			}
		}
		if s.AnswerTimeout < 0 || (s.AnswerTimeout > 0 && s.AnswerTimeout < 500*time.Millisecond) {
			return fmt.Errorf("%w: queues[%d].survey.answer_timeout: %q: must be at least 500ms (0 = default)", ErrInvalidConfig, i, s.AnswerTimeout)
		}
		if s.DigitTimeout < 0 || (s.DigitTimeout > 0 && s.DigitTimeout < 500*time.Millisecond) {
			return fmt.Errorf("%w: queues[%d].survey.digit_timeout: %q: must be at least 500ms (0 = default)", ErrInvalidConfig, i, s.DigitTimeout)
		}
	}
	return nil
}

func (c Config) surveyOf(queue string) (QueueSurvey, bool) {
	for _, s := range c.Surveys {
		if s.Queue == queue {
			if s.AnswerTimeout == 0 {
				s.AnswerTimeout = DefaultSurveyAnswerTimeout
			}
			if s.DigitTimeout == 0 {
				s.DigitTimeout = DefaultSurveyDigitTimeout
			}
			return s, true
		}
	}
	return QueueSurvey{}, false
}

// surveyStep is where a survey is.
type surveyStep int

const (
	surveyPrompting surveyStep = iota // a prompt plays (keys already count: barge-in)
	surveyWaiting                     // prompt done, waiting for the answer
	surveyGoodbye                     // the goodbye plays; hang up when it ends
)

func (s surveyStep) String() string {
	switch s {
	case surveyPrompting:
		return "prompting"
	case surveyWaiting:
		return "waiting"
	case surveyGoodbye:
		return "goodbye"
	}
	return fmt.Sprintf("surveyStep(%d)", int(s))
}

// survey is the running survey of a call (owned by the call actor).
type survey struct {
	cfg      QueueSurvey
	agent    string
	question int
	tries    int    // failed attempts at the current question
	digits   string // keys of the current answer
	step     surveyStep
	playing  string // playback id
	plays    int
	timer    int // generation of the armed timer; older timer messages are stale
}

// surveyTimer fires a survey timeout (stale unless gen is the armed one).
type surveyTimer struct{ gen int }

// surveyRecorder is the store's survey table (optional on Records).
type surveyRecorder interface {
	SaveSurveyAnswer(store.SurveyAnswer) error
}

// wantsSurvey says whether the caller stays for the queue's survey after the agent
// hung up first.
func (a *callActor) wantsSurvey() bool {
	if a.camp != nil || a.callback != "" || !a.answered || a.agent == "" {
		return false
	}
	if a.state != stateTalking && a.state != stateHeld {
		return false
	}
	_, ok := a.o.cfg.surveyOf(a.in.queue)
	return ok
}

// startSurvey keeps the caller (now out of the bridge) for the survey.
func (a *callActor) startSurvey(ctx context.Context, agent string) {
	cfg, ok := a.o.cfg.surveyOf(a.in.queue)
	if !ok {
		return
	}
	a.svy = &survey{cfg: cfg, agent: agent}
	a.setState(stateSurvey)
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.StopMOH(octx, a.channel); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("survey: stop music on hold")
	}
	// A ctid restarted during the survey must not queue the caller again: marked
	// as in the survey (and with no agent), it applies the fallback. (Cleared
	// marks would not do: a caller without them is queued from its Stasis
	// arguments, as one whose StasisStart was lost.)
	for v, val := range map[string]string{argsVar: surveyMark, agentVar: ""} {
		if err := a.o.ari.SetVar(octx, a.channel, v, val); err != nil {
			a.log.Warn().Err(err).Str("variable", v).Msg("survey: could not set the re-adoption mark")
		}
	}
	a.log.Info().Str("agent", agent).Int("questions", len(cfg.Questions)).Msg("post-call survey starts")
	a.o.surveyMetrics.Load().surveyOffered(a.in.queue)
	a.askQuestion(ctx, cfg.Intro)
}

// askQuestion plays pre (intro or invalid prompt) and the current question.
func (a *callActor) askQuestion(ctx context.Context, pre []string) {
	s := a.svy
	s.digits = ""
	media := append(append([]string(nil), pre...), s.cfg.Questions[s.question].Prompt...)
	a.surveyPlay(ctx, surveyPrompting, media)
}

func (a *callActor) surveyPlay(ctx context.Context, step surveyStep, media []string) {
	s := a.svy
	s.step = step
	if len(media) == 0 {
		a.surveyPlayed(ctx)
		return
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	s.plays++
	id := fmt.Sprintf("%s-svy-%d", a.id, s.plays)
	a.o.own(a, playbackRef(id))
	s.playing = id
	if _, err := a.o.ari.Play(octx, telephony.PlayTarget{ChannelID: a.channel}, id, media...); err != nil {
		a.log.Warn().Err(err).Strs("media", media).Msg("survey prompt failed")
		s.playing = ""
		if step == surveyGoodbye {
			a.surveyEnd(ctx, "survey done")
			return
		}
		a.surveyPlayed(ctx)
		return
	}
	a.surveyArm(surveyPlayMax)
}

// surveyPlayed: the prompt ended; wait for the answer, or hang up after goodbye.
func (a *callActor) surveyPlayed(ctx context.Context) {
	s := a.svy
	s.playing = ""
	switch s.step {
	case surveyGoodbye:
		a.surveyEnd(ctx, "survey done")
	case surveyPrompting:
		s.step = surveyWaiting
		if s.digits != "" { // a 1 pressed during the prompt: wait for its 0
			a.surveyArm(s.cfg.DigitTimeout)
			return
		}
		a.surveyArm(s.cfg.AnswerTimeout)
	}
}

// surveyArm arms the survey's one timer (replacing the previous one).
func (a *callActor) surveyArm(d time.Duration) {
	s := a.svy
	s.timer++
	gen := s.timer
	a.o.wg.Go(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			a.box.send(surveyTimer{gen: gen})
		case <-a.done:
		}
	})
}

func (a *callActor) onSurveyTimer(ctx context.Context, m surveyTimer) {
	s := a.svy
	if s == nil || a.state != stateSurvey || m.gen != s.timer {
		return
	}
	switch {
	case s.playing != "": // the prompt never reported its end
		a.log.Warn().Str("playback_id", s.playing).Msg("survey prompt never finished")
		a.surveyStopPlayback(ctx)
		a.surveyPlayed(ctx)
	case s.digits != "":
		a.surveyAnswer(ctx, s.digits)
	default:
		a.surveyFailed(ctx, "no answer")
	}
}

// onSurveyEvent handles the caller's channel during the survey; the agent's leg
// and bridge are already gone.
func (a *callActor) onSurveyEvent(ctx context.Context, ev telephony.Event) {
	switch e := ev.ARI.(type) {
	case *ari.ChannelDtmfReceived:
		if e.Channel.ID == a.channel {
			a.onSurveyDigit(ctx, e.Digit)
		}
	case *ari.PlaybackFinished:
		if a.svy != nil && a.svy.playing != "" && e.Playback.ID == a.svy.playing {
			a.surveyPlayed(ctx)
		}
	case *ari.StasisEnd:
		if e.Channel.ID == a.channel {
			a.callerLeft(ctx, "caller hung up")
		}
	case *ari.ChannelDestroyed:
		if e.Channel.ID == a.channel {
			a.callerLeft(ctx, "caller channel destroyed")
		}
	}
}

// onSurveyDigit takes one key of the caller's answer.
func (a *callActor) onSurveyDigit(ctx context.Context, digit string) {
	s := a.svy
	if s == nil || s.step == surveyGoodbye {
		return
	}
	if digit == "#" {
		a.surveyAnswer(ctx, s.digits)
		return
	}
	s.digits += digit
	kind := s.cfg.Questions[s.question].Kind
	if kind == SurveyNPS && s.digits == "1" {
		// 1 or the start of 10: wait for the next key (after the prompt, if playing).
		if s.playing == "" {
			a.surveyArm(s.cfg.DigitTimeout)
		}
		return
	}
	a.surveyAnswer(ctx, s.digits)
}

// surveyScore parses an answer.
func surveyScore(kind, digits string) (int, bool) {
	n, err := strconv.Atoi(digits)
	if err != nil || len(digits) > 2 || (len(digits) == 2 && digits != "10") {
		return 0, false
	}
	switch kind {
	case SurveyNPS:
		return n, n >= 0 && n <= 10
	case SurveyCSAT:
		return n, n >= 1 && n <= 5
	}
	return 0, false
}

func (a *callActor) surveyAnswer(ctx context.Context, digits string) {
	s := a.svy
	q := s.cfg.Questions[s.question]
	score, ok := surveyScore(q.Kind, digits)
	if !ok {
		a.surveyFailed(ctx, fmt.Sprintf("invalid answer %q", digits))
		return
	}
	a.surveyStopPlayback(ctx)
	kind := store.SurveyNPS
	if q.Kind == SurveyCSAT {
		kind = store.SurveyCSAT
	}
	a.log.Info().Str("kind", q.Kind).Int("score", score).Str("agent", s.agent).Msg("survey answer")
	a.o.surveyMetrics.Load().surveyAnswered(a.in.queue, q.Kind, score)
	a.o.record(func(r Records) error {
		sr, ok := r.(surveyRecorder)
		if !ok {
			return fmt.Errorf("%w: the store cannot keep survey answers", ErrInvalidConfig)
		}
		return sr.SaveSurveyAnswer(store.SurveyAnswer{InteractionID: a.id, Queue: a.in.queue, Agent: s.agent, Kind: kind, Score: score, At: a.o.now()})
	})
	a.surveyNext(ctx)
}

// surveyFailed: no or an invalid answer; ask again once, then skip the question.
func (a *callActor) surveyFailed(ctx context.Context, why string) {
	s := a.svy
	a.surveyStopPlayback(ctx)
	s.tries++
	if s.tries <= 1 {
		a.log.Info().Str("why", why).Int("question", s.question).Msg("survey: asking again")
		a.askQuestion(ctx, s.cfg.Invalid)
		return
	}
	a.log.Info().Str("why", why).Int("question", s.question).Msg("survey: question skipped")
	a.o.surveyMetrics.Load().surveySkipped(a.in.queue, s.cfg.Questions[s.question].Kind)
	a.surveyNext(ctx)
}

func (a *callActor) surveyNext(ctx context.Context) {
	s := a.svy
	s.question++
	s.tries = 0
	s.digits = ""
	if s.question < len(s.cfg.Questions) {
		a.askQuestion(ctx, nil)
		return
	}
	a.surveyPlay(ctx, surveyGoodbye, s.cfg.Goodbye)
}

func (a *callActor) surveyStopPlayback(ctx context.Context) {
	s := a.svy
	if s.playing == "" {
		return
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.StopPlayback(octx, s.playing); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("survey: stop prompt")
	}
	s.playing = ""
}

// surveyEnd hangs the caller up after the survey.
func (a *callActor) surveyEnd(ctx context.Context, cause string) {
	a.surveyStopPlayback(ctx)
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.Hangup(octx, a.channel, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("survey: hang up caller")
		a.o.strandHangup(a.channel, err)
	}
	a.log.Info().Str("cause", cause).Msg("post-call survey ended")
	a.setState(stateEnded)
}
